"""The SMART-on-FHIR web app (FastAPI): EHR and standalone launch, the patient page, sign & write back."""

from bmefhir.web.app import create_app
from bmefhir.web.settings import WebSettings, get_settings

__all__ = ["WebSettings", "create_app", "get_settings"]
