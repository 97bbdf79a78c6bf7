"""Radiology report text for the text-only example variants (``examples/text/``).

Each coded imaging finding of a study (``Stated``) is said once in the report of that study, in the
case's language, the way a radiologist writes it: a title, the clinical information with the
clinical question (which states no finding), the technique, the findings and the impression. One
small ``Writer`` per language holds the phrases; the sentence plan (``plan``) is shared. Output is
deterministic: the same findings give the same text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import ClassVar, Literal

from bmefhir.anatomy import STRUCTURES

Language = Literal["en", "tr", "zh"]
Shape = Literal["plain", "html", "binary", "docref"]
HEADER_KEYS = ("clinical_information", "technique", "findings", "impression")


@dataclass(frozen=True, slots=True)
class Stated:
    """One coded finding of a study: what its report must say."""

    concept: str
    structure: str
    side: str | None
    present: bool
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """Findings said in one sentence: one concept, present or absent, one side, several sites."""

    concept: str
    present: bool
    side: str | None
    structures: tuple[str, ...]
    qualifier: str | None = None
    resolved: bool = False  # absent BME where an earlier study of the case showed it


@dataclass(frozen=True, slots=True)
class TextForm:
    """How one case's reports are written: language, clinical information, attachment shapes."""

    language: Language
    history: str
    question: str
    shapes: tuple[Shape, ...] = ("plain",)  # per study, in turn
    tag_language: bool = True  # attachment.language set; False leaves detection to the reader
    later: str = ""  # clinical information of follow-up studies, when it differs


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    sections: tuple[tuple[str, tuple[str, ...]], ...]  # (header key, paragraphs)
    impression: str
    writer: Writer = field(repr=False)

    def plain(self) -> str:
        lines = [self.title, ""]
        for key, paragraphs in self.sections:
            header = self.writer.headers[key]
            if key == "findings":
                lines += [f"{header}{self.writer.colon}", *paragraphs, ""]
            else:
                lines += [f"{header}{self.writer.colon}{self.writer.space}{' '.join(paragraphs)}", ""]
        return "\n".join(lines).rstrip() + "\n"

    def html(self, language: str | None) -> str:
        body = [f"<h1>{escape(self.title)}</h1>"]
        for key, paragraphs in self.sections:
            body.append(f"<h2>{escape(self.writer.headers[key])}</h2>")
            body += [f"<p>{escape(p)}</p>" for p in paragraphs]
        lang = f' lang="{language}"' if language else ""
        return (
            f'<!DOCTYPE html>\n<html{lang}><head><meta charset="utf-8"><title>{escape(self.title)}</title>'
            f"</head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
        )


def plan(stated: Sequence[Stated], earlier_bme: set[tuple[str, str | None]]) -> list[Group]:
    """Group a study's findings into sentences, in the order they were coded.

    Same concept, presence and side → one sentence listing the sites; a left and a right group
    naming the same sites become one bilateral sentence. Absent BME at a site an earlier study
    showed it at is a resolution.
    """
    order: list[tuple[str, bool, str | None]] = []
    sites: dict[tuple[str, bool, str | None], list[str]] = {}
    notes: dict[tuple[str, bool, str | None], str | None] = {}
    for s in stated:
        key = (s.concept, s.present, s.side)
        if key not in sites:
            order.append(key)
            sites[key] = []
            notes[key] = None
        if s.structure not in sites[key]:
            sites[key].append(s.structure)
        if s.note and notes[key] is None:
            notes[key] = s.note.split(",")[0].split(";")[0].strip().lower()
    groups: list[Group] = []
    for key in order:
        concept, present, side = key
        if side == "right" and sorted(sites.get((concept, present, "left"), [])) == sorted(sites[key]):
            continue  # said with the left group, as bilateral
        if side == "left" and sorted(sites.get((concept, present, "right"), [])) == sorted(sites[key]):
            side = "bilateral"
        resolved = (
            concept == "bone_marrow_edema"
            and not present
            and any((structure, key[2]) in earlier_bme for structure in sites[key])
        )
        groups.append(Group(concept, present, side, tuple(sites[key]), notes[key], resolved))
    return groups


class Writer(ABC):
    """The phrases of one language; subclasses fill the tables."""

    bcp47: str = ""
    headers: ClassVar[dict[str, str]] = {}
    colon = ":"
    space = " "
    sides: ClassVar[dict[str, str]] = {}
    structures: ClassVar[dict[str, str]] = {}
    present: ClassVar[dict[str, str]] = {}  # concept → sentence template with {sites} (and {q}: qualifier)
    absent: ClassVar[dict[str, str]] = {}
    qualifiers: ClassVar[dict[str, str]] = {}
    techniques: ClassVar[dict[str, str]] = {}
    contrast = ""

    @abstractmethod
    def site_phrase(self, group: Group) -> str:
        """Each language writes this its own way."""

    def names(self, group: Group) -> str:
        """The sites as a subject (Turkish: nominative); elsewhere the same as ``site_phrase``."""
        return self.site_phrase(group)

    @abstractmethod
    def resolution(self, group: Group) -> str:
        """Each language writes this its own way."""

    @abstractmethod
    def title(self, modality: str, description: str, joints: list[str], side: str | None) -> str:
        """Each language writes this its own way."""

    @abstractmethod
    def join(self, items: Sequence[str]) -> str:
        """Each language writes this its own way."""

    def sentence(self, group: Group) -> str:
        if group.resolved:
            return self.resolution(group)
        table = self.present if group.present else self.absent
        q = self.qualifiers.get(group.qualifier or "", "")
        text = table[group.concept].format(sites=self.site_phrase(group), nom=self.names(group), q=q)
        text = " ".join(text.split()) if self.space else text
        return text[0].upper() + text[1:]

    def impression(self, groups: Sequence[Group]) -> str:
        """The impression restates the present findings (signal changes aside) and any resolution;
        a study with none restates its negatives."""
        chosen = [g for g in groups if (g.present and not g.concept.endswith("_signal")) or g.resolved]
        if not chosen:
            chosen = list(groups)
        return self.space.join(self.sentence(g) for g in chosen)

    def report(
        self,
        modality: str,
        description: str,
        stated: Sequence[Stated],
        earlier_bme: set[tuple[str, str | None]],
        form: TextForm,
    ) -> Report:
        groups = plan(stated, earlier_bme)
        joints = list(dict.fromkeys(STRUCTURES[s.structure].joint or s.structure for s in stated))
        sides = {s.side for s in stated}
        side = sides.pop() if len(sides) == 1 else ("bilateral" if sides == {"left", "right"} else None)
        technique = self.techniques[modality]
        if modality == "MR" and "with contrast" in description.lower():
            technique = f"{technique}{self.space}{self.contrast}".strip()
        impression = self.impression(groups)
        sections = (
            ("clinical_information", (f"{form.history}{self.space}{form.question}",)),
            ("technique", (technique,)),
            ("findings", tuple(self.sentence(g) for g in groups)),
            ("impression", (impression,)),
        )
        return Report(self.title(modality, description, joints, side), sections, impression, self)


class English(Writer):
    bcp47 = "en"
    headers: ClassVar[dict[str, str]] = {
        "clinical_information": "Clinical information",
        "technique": "Technique",
        "findings": "Findings",
        "impression": "Impression",
    }
    sides: ClassVar[dict[str, str]] = {"left": "left", "right": "right"}
    structures: ClassVar[dict[str, str]] = {
        "femoral_head": "femoral head",
        "femoral_neck": "femoral neck",
        "proximal_femur": "proximal femoral metadiaphysis",
        "hip": "hip joint",
        "talus": "talus",
        "distal_tibia": "distal tibia",
        "knee": "knee joint",
        "lateral_femoral_condyle": "lateral femoral condyle",
        "lateral_tibial_plateau": "lateral tibial plateau",
        "medial_femoral_condyle": "medial femoral condyle",
        "ilium": "ilium",
        "sacrum": "sacrum",
        "sacroiliac_joint": "sacroiliac joint",
        "spine": "lumbar spine",
        "pelvis": "pelvis",
        "calcaneus": "calcaneus",
    }
    present: ClassVar[dict[str, str]] = {
        "bone_marrow_edema": "There is {q} bone marrow edema in {sites}.",
        "t1_low_signal": "The marrow of {sites} shows low signal on T1-weighted images.",
        "t2_high_signal": "High signal on fat-suppressed T2-weighted images in {sites}.",
        "stir_high_signal": "High signal on STIR in {sites}.",
        "joint_effusion": "There is {q} joint effusion in {sites}.",
        "synovitis": "Thickened, avidly enhancing synovium in keeping with synovitis of {sites}.",
        "periarticular_bme_both_sides": "The marrow edema involves both sides of {sites}.",
        "normal_study": "Normal appearance of {sites}.",
        "cortical_destruction": "Cortical destruction of {sites}.",
        "marrow_replacement": "Marrow replacement in {sites}, with T1 signal lower than that of muscle.",
        "focal_enhancing_lesion": "A focal enhancing lesion in {sites} on post-contrast images.",
        "metaphyseal_diaphyseal_lesion": "An intramedullary lesion expanding {sites}.",
        "erosions": "Subchondral erosions of {sites}.",
        "enthesitis": "Enthesitis at the Achilles tendon insertion on {sites}.",
        "geographic_reticular_bme_trauma_pattern": (
            "Reticular and geographic marrow signal change in {sites}, a bone contusion pattern."
        ),
        "lytic_lesion": "A small lytic lesion in {sites}.",
        "osteoid_osteoma_nidus": "Within the lesion, a nidus with central mineralisation in {sites}.",
        "sif_band": "An irregular subchondral low-signal band, convex to the joint, in {sites}.",
        "articular_collapse": "Collapse of the articular surface of {sites}.",
    }
    absent: ClassVar[dict[str, str]] = {
        "bone_marrow_edema": "No bone marrow edema in {sites}.",
        "erosions": "No erosions of {sites}.",
        "abscess": "No abscess or drainable fluid collection about {sites}.",
        "soft_tissue_mass": "No soft tissue mass at {sites}.",
        "cortical_destruction": "No cortical destruction of {sites}.",
        "fracture_line": "No fracture line in {sites}.",
    }
    qualifiers: ClassVar[dict[str, str]] = {
        "diffuse": "diffuse",
        "small": "a small",
        "large": "a large",
        "marked": "marked",
    }
    techniques: ClassVar[dict[str, str]] = {
        "MR": "Multiplanar T1-weighted, fat-suppressed T2-weighted and STIR sequences.",
        "CR": "AP and lateral radiographs.",
        "DX": "AP and lateral radiographs.",
        "CT": "Axial CT with multiplanar reformats.",
        "NM": "Three-phase bone scintigraphy after IV Tc-99m MDP.",
        "unknown": "Outside images reviewed; how they were acquired is not stated in the referral.",
    }
    contrast = "Fat-suppressed T1-weighted images after IV gadolinium."

    def join(self, items: Sequence[str]) -> str:
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"

    def site_phrase(self, group: Group) -> str:
        names = self.join([self.structures[s] for s in group.structures])
        if group.side == "bilateral":
            return f"the {names} on both sides"
        return f"the {self.sides[group.side]} {names}" if group.side else f"the {names}"

    def resolution(self, group: Group) -> str:
        return f"No bone marrow edema in {self.site_phrase(group)}; the previously seen edema has resolved."

    def title(self, modality: str, description: str, joints: list[str], side: str | None) -> str:
        return description.upper()


class Turkish(Writer):
    bcp47 = "tr"
    headers: ClassVar[dict[str, str]] = {
        "clinical_information": "Klinik bilgi",
        "technique": "Teknik",
        "findings": "Bulgular",
        "impression": "Sonuç",
    }
    sides: ClassVar[dict[str, str]] = {"left": "sol", "right": "sağ", "bilateral": "her iki"}
    # (nominative, locative): the last site of a list takes the locative ("femur başı ve boynunda")
    places: ClassVar[dict[str, tuple[str, str]]] = {
        "femoral_head": ("femur başı", "femur başında"),
        "femoral_neck": ("femur boynu", "femur boynunda"),
        "proximal_femur": ("proksimal femur", "proksimal femurda"),
        "hip": ("kalça eklemi", "kalça ekleminde"),
        "talus": ("talus", "talusta"),
        "ankle": ("ayak bileği", "ayak bileğinde"),
        "knee": ("diz eklemi", "diz ekleminde"),
        "medial_femoral_condyle": ("medial femoral kondil", "medial femoral kondilde"),
        "scaphoid": ("skafoid", "skafoidde"),
        "lunate": ("lunat", "lunatta"),
        "wrist": ("el bileği", "el bileğinde"),
    }
    present: ClassVar[dict[str, str]] = {
        "bone_marrow_edema": "{sites} {q} kemik iliği ödemi izlendi.",
        "t1_low_signal": "{sites} T1 ağırlıklı görüntülerde sinyal kaybı izlendi.",
        "t2_high_signal": "{sites} yağ baskılı T2 ağırlıklı görüntülerde sinyal artışı izlendi.",
        "stir_high_signal": "{sites} STIR sekansta sinyal artışı izlendi.",
        "joint_effusion": "{sites} {q} eklem efüzyonu izlendi.",
        "band_like_t1_lesion": "{sites} T1 ağırlıklı görüntülerde subkondral, bant şeklinde hipointens lezyon izlendi.",
        "double_line_sign": "{sites} T2 ağırlıklı görüntülerde çift çizgi işareti izlendi.",
        "subchondral_low_signal_band": "{sites} 6 mm kalınlığında subkondral düşük sinyalli bant izlendi.",
        "normal_study": "{nom} radyografik olarak normaldir.",
        "periarticular_osteopenia": "{sites} {q} periartiküler osteopeni izlendi.",
        "scintigraphy_diffuse_uptake": "{sites} üç fazda da homojen, yaygın aktivite tutulumu izlendi.",
    }
    absent: ClassVar[dict[str, str]] = {
        "bone_marrow_edema": "{sites} kemik iliği ödemi izlenmedi.",
        "periarticular_osteopenia": "{sites} periartiküler osteopeni izlenmedi.",
        "subchondral_low_signal_band": "{sites} subkondral düşük sinyalli bant izlenmedi.",
        "double_line_sign": "{sites} çift çizgi işareti izlenmedi.",
        "band_like_t1_lesion": "{sites} T1 ağırlıklı görüntülerde bant şeklinde lezyon izlenmedi.",
        "scintigraphy_cold_spot": "{sites} aktivite tutulumu içinde soğuk alan izlenmedi.",
        "cartilage_loss": "{sites} eklem aralığında daralma izlenmedi.",
        "erosions": "{sites} subkondral erozyon izlenmedi.",
        "crescent_sign": "{sites} hilal (crescent) işareti izlenmedi.",
        "articular_collapse": "{sites} eklem yüzeyinde çökme izlenmedi.",
    }
    qualifiers: ClassVar[dict[str, str]] = {
        "diffuse": "yaygın",
        "small": "az miktarda",
        "large": "belirgin",
        "marked": "belirgin",
    }
    techniques: ClassVar[dict[str, str]] = {
        "MR": "Koronal T1, koronal STIR, aksiyel ve sagittal yağ baskılı T2 ağırlıklı sekanslar alındı.",
        "CR": "AP ve lateral grafiler.",
        "DX": "AP ve lateral grafiler.",
        "NM": "İntravenöz Tc-99m MDP sonrası üç fazlı kemik sintigrafisi.",
    }
    contrast = "İntravenöz gadolinyum sonrası yağ baskılı T1 ağırlıklı sekanslar alındı."
    regions: ClassVar[dict[str, str]] = {"hip": "kalça", "ankle": "ayak bileği", "knee": "diz", "wrist": "el bileği"}
    modalities: ClassVar[dict[str, str]] = {
        "MR": "MRG",
        "CR": "grafisi",
        "DX": "grafisi",
        "NM": "üç fazlı kemik sintigrafisi",
    }

    def join(self, items: Sequence[str]) -> str:
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} ve {items[-1]}"

    def site_phrase(self, group: Group) -> str:
        names = [self.places[s][0] for s in group.structures[:-1]] + [self.places[group.structures[-1]][1]]
        return self._sided(group, self.join(names))

    def names(self, group: Group) -> str:
        return self._sided(group, self.join([self.places[s][0] for s in group.structures]))

    def _sided(self, group: Group, phrase: str) -> str:
        return f"{self.sides[group.side]} {phrase}" if group.side else phrase

    def resolution(self, group: Group) -> str:
        return f"Önceki MRG ile karşılaştırıldığında {self.site_phrase(group)} kemik iliği ödemi izlenmedi."

    def title(self, modality: str, description: str, joints: list[str], side: str | None) -> str:
        region = " ve ".join(self.regions.get(j, j) for j in joints)
        prefix = f"{self.sides[side].capitalize()} " if side else ""
        return f"{prefix}{region} {self.modalities[modality]}"


class Chinese(Writer):
    bcp47 = "zh-CN"
    headers: ClassVar[dict[str, str]] = {
        "clinical_information": "临床资料",
        "technique": "检查方法",
        "findings": "影像所见",
        "impression": "诊断意见",
    }
    colon = "："
    space = ""
    sides: ClassVar[dict[str, str]] = {"left": "左侧", "right": "右侧", "bilateral": "双侧"}
    structures: ClassVar[dict[str, str]] = {
        "femoral_head": "股骨头",
        "femoral_neck": "股骨颈",
        "hip": "髋关节",
        "knee": "膝关节",
        "medial_femoral_condyle": "股骨内侧髁",
    }
    present: ClassVar[dict[str, str]] = {
        "marrow_reconversion_pattern": (
            "{sites}骨髓信号不均匀，T1WI呈斑片状稍低信号，信号高于肌肉，符合骨髓再转化表现。"
        ),
        "bone_marrow_edema": "{sites}见{q}骨髓水肿。",
        "t1_low_signal": "{sites}T1WI呈低信号。",
        "stir_high_signal": "{sites}STIR呈高信号。",
        "subchondral_fracture_line": "{sites}软骨下见与关节面平行的低信号骨折线。",
        "joint_effusion": "{sites}见{q}积液。",
        "normal_study": "{sites}骨质结构未见明显异常。",
        "periarticular_osteopenia": "{sites}见关节周围骨质疏松。",
    }
    absent: ClassVar[dict[str, str]] = {
        "bone_marrow_edema": "{sites}未见骨髓水肿。",
        "fracture_line": "{sites}未见骨折线。",
        "articular_collapse": "{sites}关节面未见塌陷。",
        "osteophytes": "{sites}未见骨赘形成。",
        "subchondral_low_signal_band": "{sites}未见软骨下低信号带。",
        "double_line_sign": "{sites}未见双线征。",
    }
    qualifiers: ClassVar[dict[str, str]] = {"diffuse": "弥漫性", "small": "少量", "large": "大量", "marked": "明显"}
    techniques: ClassVar[dict[str, str]] = {
        "MR": "冠状位T1WI、T2WI压脂及STIR序列，横断位及矢状位扫描。",
        "CR": "正侧位X线摄影。",
        "DX": "正侧位X线摄影。",
    }
    contrast = "静脉注射钆对比剂后行压脂T1WI增强扫描。"
    modalities: ClassVar[dict[str, str]] = {"MR": "MRI平扫", "CR": "X线平片", "DX": "X线平片"}

    def join(self, items: Sequence[str]) -> str:
        return "、".join(items)

    def site_phrase(self, group: Group) -> str:
        names = self.join([self.structures[s] for s in group.structures])
        return f"{self.sides[group.side]}{names}" if group.side else names

    def resolution(self, group: Group) -> str:
        return f"与前片比较，{self.site_phrase(group)}未见骨髓水肿，原骨髓水肿已消失。"

    def title(self, modality: str, description: str, joints: list[str], side: str | None) -> str:
        region = "、".join(self.structures.get(j, j) for j in joints)
        return f"{self.sides[side] if side else ''}{region}{self.modalities[modality]}"


WRITERS: dict[str, Writer] = {"en": English(), "tr": Turkish(), "zh": Chinese()}
