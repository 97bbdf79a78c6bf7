package io.bmefhir.sandbox;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;

/**
 * Stock HAPI answers a failed version check ({@code If-Match} on PUT, or
 * {@code Bundle.entry.request.ifMatch} in a transaction) with 409 Conflict.
 * FHIR R4 (http.html#concurrency) says 412 Precondition Failed, which is what
 * most servers send, so the sandbox translates exactly that case. Other
 * version conflicts (e.g. two concurrent writers) keep their 409.
 * Disable with {@code -Dsandbox.ifMatch412=false}.
 */
@Interceptor
public class IfMatchPreconditionInterceptor {
	/** HAPI's code for "Trying to update X/_history/N but this is not the current version". */
	static final String NOT_CURRENT_VERSION = "HAPI-0989";

	@Hook(Pointcut.SERVER_PRE_PROCESS_OUTGOING_EXCEPTION)
	public BaseServerResponseException translate(RequestDetails request, Throwable error) {
		if (error instanceof ResourceVersionConflictException conflict) {
			String msg = conflict.getMessage();
			if (msg != null && msg.contains(NOT_CURRENT_VERSION)) {
				PreconditionFailedException pfe = new PreconditionFailedException(msg);
				pfe.setStackTrace(conflict.getStackTrace());
				return pfe;
			}
		}
		return null;
	}
}
