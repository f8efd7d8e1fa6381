"""Adverse-event terms the registry accepts: CTCAE v5.0 terms seen after intrathecal cell therapy in children.

Source: Common Terminology Criteria for Adverse Events (CTCAE) Version 5.0, U.S. Department of
Health and Human Services, National Cancer Institute, November 27, 2017. Terms are spelled as
there (MedDRA lowest-level terms). Anything else is recorded as "Other, specify" with the
words typed in `term_other`, which stays with the clinical roles.
"""

from django.utils.translation import gettext_lazy as _

OTHER = "Other, specify"

TERMS = (
    # Lumbar puncture and intrathecal infusion
    "Headache",
    "Back pain",
    "Neck pain",
    "Pain",
    "Pain in extremity",
    "Injection site reaction",
    "Cerebrospinal fluid leakage",
    "Meningismus",
    "Paresthesia",
    "Muscle weakness lower limb",
    "Urinary retention",
    # Bone-marrow harvest
    "Bruising",
    "Hematoma",
    "Anemia",
    "Platelet count decreased",
    # Systemic
    "Fever",
    "Nausea",
    "Vomiting",
    "Diarrhea",
    "Constipation",
    "Anorexia",
    "Fatigue",
    "Allergic reaction",
    "Anaphylaxis",
    "Rash maculo-papular",
    "Urticaria",
    "Pruritus",
    # Sedation and cardiorespiratory
    "Hypotension",
    "Hypertension",
    "Sinus bradycardia",
    "Sinus tachycardia",
    "Hypoxia",
    "Apnea",
    # Nervous system and behaviour
    "Seizure",
    "Irritability",
    "Agitation",
    "Somnolence",
    "Lethargy",
    "Depressed level of consciousness",
    "Dizziness",
    "Spasticity",
    "Hydrocephalus",
    "Intracranial hemorrhage",
    # Infection
    "Meningitis",
    "Sepsis",
    "Skin infection",
    "Infections and infestations - Other, specify",
)

CHOICES = [(term, term) for term in TERMS] + [(OTHER, _("Other, specify"))]
