"""The clinical registry's data: patients, harvests, cell products, procedures, visits, scores."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from registry import ctcae, quantities

# Characters that reorder how text is displayed without being seen (LRE, RLE, PDF, LRO, RLO, the
# isolates, LRM, RLM, ALM): in a name or record number they make one patient look like another.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def no_bidi_controls(value):
    """Refuse invisible text-direction controls in names and identifiers."""
    found = sorted({f"U+{ord(char):04X}" for char in str(value) if char in BIDI_CONTROLS})
    if found:
        raise ValidationError(
            _(
                "This contains invisible text-direction characters (%(codes)s) that make it display "
                "differently from what is stored; type it again without them."
            ),
            code="bidi_control",
            params={"codes": ", ".join(found)},
        )


def today():
    return timezone.localdate()


def check_not_future(value, field, errors):
    if value and value > today():
        errors[field] = _("The date %(date)s is in the future.") % {"date": value.isoformat()}


class ClinicalRecord(models.Model):
    """Base of every clinical record: an optimistic-locking version and timestamps.

    `version` rises by one on every save through the services; an update that names an
    older version is refused, so two people editing one record never overwrite each other.
    """

    # How to reach the patient from this kind of record, for filters and annotations.
    patient_path = "patient"

    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def owner_patient(self):
        """The patient this record belongs to (for permissions, links and history)."""
        raise NotImplementedError


class Site(models.Model):
    """A centre that enrols patients; staff accounts belong to one or more and see only their patients."""

    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z0-9][A-Z0-9-]{0,15}$",
                _("Use capital letters, digits and hyphens, for example MAD-1."),
            )
        ],
        help_text=_("Short code shown in research tables and exports, e.g. MAD-1."),
        error_messages={"unique": _("Another site already has this code.")},
    )
    name = models.CharField(_("name"), max_length=200, validators=[no_bidi_controls])

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["code"]
        permissions = [
            ("view_every_site", _("Can see the patients of every site")),
        ]

    def __str__(self):
        return f"{self.code} — {self.name}"

    @classmethod
    def default(cls):
        """The registry's default site (settings.DEFAULT_SITE_CODE), made by the migrations; made again if
        it was removed while no patient used it."""
        site, _created = cls.objects.get_or_create(
            code=settings.DEFAULT_SITE_CODE, defaults={"name": settings.DEFAULT_SITE_NAME}
        )
        return site


class SiteMembership(models.Model):
    """A staff account's membership of a site: it sees and edits that site's patients."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_memberships", verbose_name=_("user")
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("site"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site membership")
        verbose_name_plural = _("site memberships")
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="site_membership_once")]

    def __str__(self):
        return f"{self.user} @ {self.site.code}"


class Patient(ClinicalRecord):
    patient_path = ""

    class Sex(models.TextChoices):
        FEMALE = "F", _("Female")
        MALE = "M", _("Male")

    class Subtype(models.TextChoices):
        SPASTIC_QUADRIPLEGIA = "spastic-quadriplegia", _("Spastic quadriplegia")
        SPASTIC_DIPLEGIA = "spastic-diplegia", _("Spastic diplegia")
        SPASTIC_HEMIPLEGIA = "spastic-hemiplegia", _("Spastic hemiplegia")
        DYSKINETIC = "dyskinetic", _("Dyskinetic")
        ATAXIC = "ataxic", _("Ataxic")
        MIXED = "mixed", _("Mixed")

    class Etiology(models.TextChoices):
        HIE = "hie", _("Hypoxic-ischemic encephalopathy")
        PREMATURITY = "prematurity", _("Prematurity")
        INFECTION = "infection", _("Infection")
        GENETIC = "genetic", _("Genetic")
        OTHER = "other", _("Other")
        UNKNOWN = "unknown", _("Unknown")

    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="patients",
        verbose_name=_("site"),
        help_text=_("The centre that enrolled the patient; only its staff see the patient."),
    )
    study_id = models.CharField(
        _("study ID"),
        max_length=32,
        unique=True,
        validators=[
            no_bidi_controls,
            RegexValidator(
                r"^[A-Z0-9][A-Z0-9-]{1,31}$",
                _("Use capital letters, digits and hyphens, for example CP-001."),
            ),
        ],
        help_text=_("Pseudonym used in research views and exports, e.g. CP-001."),
        error_messages={"unique": _("Another patient already has this study ID.")},
    )
    given_name = models.CharField(_("given name"), max_length=100, validators=[no_bidi_controls])
    family_name = models.CharField(_("family name"), max_length=100, validators=[no_bidi_controls])
    mrn = models.CharField(
        _("medical record number"),
        max_length=50,
        unique=True,
        validators=[no_bidi_controls],
        error_messages={"unique": _("Another patient already has this medical record number.")},
    )
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    cp_subtype = models.CharField(_("CP subtype"), max_length=32, choices=Subtype.choices)
    etiology = models.CharField(_("etiology"), max_length=16, choices=Etiology.choices)
    gestational_age_weeks = models.PositiveSmallIntegerField(
        _("gestational age (weeks)"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(22, _("Gestational age must be between 22 and 44 weeks.")),
            MaxValueValidator(44, _("Gestational age must be between 22 and 44 weeks.")),
        ],
    )
    gmfcs_level = models.PositiveSmallIntegerField(
        _("GMFCS level at enrolment"),
        validators=[
            MinValueValidator(1, _("GMFCS level must be between I and V (1-5).")),
            MaxValueValidator(5, _("GMFCS level must be between I and V (1-5).")),
        ],
        help_text=_("Gross Motor Function Classification System, I (mildest) to V."),
    )
    epilepsy = models.BooleanField(_("epilepsy"), default=False)
    consent_date = models.DateField(_("consent date"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["study_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gmfcs_level__gte=1, gmfcs_level__lte=5),
                name="patient_gmfcs_level_1_to_5",
                violation_error_message=_("GMFCS level must be between I and V (1-5)."),
            ),
            models.CheckConstraint(
                condition=Q(gestational_age_weeks__isnull=True)
                | Q(gestational_age_weeks__gte=22, gestational_age_weeks__lte=44),
                name="patient_gestational_age_22_to_44",
                violation_error_message=_("Gestational age must be between 22 and 44 weeks."),
            ),
        ]
        permissions = [
            ("view_identifiers", _("Can see patient names, record numbers and exact dates")),
        ]

    def __str__(self):
        return self.study_id

    @property
    def owner_patient(self):
        return self

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"

    def clean(self):
        errors = {}
        check_not_future(self.date_of_birth, "date_of_birth", errors)
        check_not_future(self.consent_date, "consent_date", errors)
        if self.consent_date and self.date_of_birth and self.consent_date < self.date_of_birth:
            errors["consent_date"] = _("Consent cannot be before the date of birth.")
        if errors:
            raise ValidationError(errors)

    def age_in_months(self, on_date):
        """Completed months of age on a date."""
        return quantities.age_in_months(self.date_of_birth, on_date)

    def first_procedure_date(self):
        first = self.procedures.order_by("date").values_list("date", flat=True).first()
        return first


class PatientDatedRecord(ClinicalRecord):
    """A record that happens on a date in a patient's course: after birth, not in the future."""

    date_field = "date"

    class Meta:
        abstract = True

    def clean_event_date(self, errors):
        value = getattr(self, self.date_field)
        patient = self.owner_patient if self._owner_is_set() else None
        check_not_future(value, self.date_field, errors)
        if value and patient and value < patient.date_of_birth:
            errors[self.date_field] = _("The date %(date)s is before the patient's birth (%(dob)s).") % {
                "date": value.isoformat(),
                "dob": patient.date_of_birth.isoformat(),
            }

    def _owner_is_set(self):
        try:
            return self.owner_patient is not None
        except models.ObjectDoesNotExist:
            return False


class BoneMarrowHarvest(PatientDatedRecord):
    class Processing(models.TextChoices):
        FICOLL = "ficoll", _("Density gradient (Ficoll)")
        SEPAX = "sepax", _("Automated (Sepax)")
        HES = "hes", _("Hydroxyethyl starch sedimentation")
        BUFFY_COAT = "buffy-coat", _("Buffy coat")
        OTHER = "other", _("Other")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="harvests", verbose_name=_("patient"))
    date = models.DateField(_("harvest date"))
    gcsf_mobilized = models.BooleanField(_("G-CSF mobilised"), default=False)
    gcsf_dose_mcg_per_kg_day = models.DecimalField(
        _("G-CSF dose (µg/kg/day)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("30"))],
    )
    volume_ml = models.DecimalField(
        _("volume collected (mL)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("2000"))],
    )
    processing_method = models.CharField(
        _("processing method"), max_length=16, choices=Processing.choices, default=Processing.FICOLL
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("bone-marrow harvest")
        verbose_name_plural = _("bone-marrow harvests")
        ordering = ["date", "id"]
        # Lists are read in this order a page at a time: the index gives a page without sorting them all.
        indexes = [models.Index(fields=["date", "id"], name="harvest_list_order")]
        constraints = [
            models.CheckConstraint(
                condition=Q(volume_ml__gt=0),
                name="harvest_volume_positive",
                violation_error_message=_("Volume collected must be more than 0 mL."),
            ),
        ]

    def __str__(self):
        return _("Harvest %(date)s") % {"date": self.date.isoformat()}

    @property
    def owner_patient(self):
        return self.patient

    def clean(self):
        errors = {}
        self.clean_event_date(errors)
        if self.gcsf_dose_mcg_per_kg_day and not self.gcsf_mobilized:
            errors["gcsf_dose_mcg_per_kg_day"] = _("A G-CSF dose was entered but G-CSF mobilisation is not ticked.")
        if errors:
            raise ValidationError(errors)


class CellProduct(ClinicalRecord):
    patient_path = "harvest__patient"

    class Sterility(models.TextChoices):
        PENDING = "pending", _("Pending")
        NEGATIVE = "negative", _("Negative (sterile)")
        POSITIVE = "positive", _("Positive (contaminated)")

    harvest = models.ForeignKey(
        BoneMarrowHarvest, on_delete=models.PROTECT, related_name="products", verbose_name=_("harvest")
    )
    tnc_count = models.BigIntegerField(
        _("total nucleated cells"),
        validators=[MinValueValidator(1, _("The TNC count must be more than zero."))],
        help_text=_("Cells in the product, e.g. 3.2e9."),
    )
    cd34_count = models.BigIntegerField(
        _("CD34+ cells"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("CD34+ cells in the product, e.g. 2.5e7."),
    )
    viability_percent = models.DecimalField(
        _("viability (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[
            MinValueValidator(0, _("Viability must be between 0 and 100 %%.")),
            MaxValueValidator(100, _("Viability must be between 0 and 100 %%.")),
        ],
    )
    sterility = models.CharField(
        _("sterility result"), max_length=16, choices=Sterility.choices, default=Sterility.PENDING
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("cell product")
        verbose_name_plural = _("cell products")
        ordering = ["harvest__date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(viability_percent__gte=0, viability_percent__lte=100),
                name="product_viability_0_to_100",
                violation_error_message=_("Viability must be between 0 and 100 %%."),
            ),
            models.CheckConstraint(
                condition=Q(tnc_count__gt=0),
                name="product_tnc_positive",
                violation_error_message=_("The TNC count must be more than zero."),
            ),
            models.CheckConstraint(
                condition=Q(cd34_count__isnull=True) | Q(cd34_count__lte=models.F("tnc_count")),
                name="product_cd34_within_tnc",
                violation_error_message=_("CD34+ cells cannot outnumber the total nucleated cells."),
            ),
        ]

    def __str__(self):
        return _("Product from harvest %(date)s (%(tnc).2e TNC)") % {
            "date": self.harvest.date.isoformat(),
            "tnc": self.tnc_count,
        }

    @property
    def owner_patient(self):
        return self.harvest.patient


class IntrathecalProcedure(PatientDatedRecord):
    class PunctureLevel(models.TextChoices):
        L2_L3 = "L2-L3", "L2-L3"
        L3_L4 = "L3-L4", "L3-L4"
        L4_L5 = "L4-L5", "L4-L5"
        L5_S1 = "L5-S1", "L5-S1"

    class Sedation(models.TextChoices):
        NONE = "none", _("None")
        LOCAL = "local", _("Local anaesthesia")
        SEDATION = "sedation", _("Procedural sedation")
        GENERAL = "general", _("General anaesthesia")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="procedures", verbose_name=_("patient"))
    product = models.ForeignKey(
        CellProduct, on_delete=models.PROTECT, related_name="procedures", verbose_name=_("cell product")
    )
    date = models.DateField(_("procedure date"))
    weight_kg = models.DecimalField(
        _("weight (kg)"),
        max_digits=5,
        decimal_places=2,
        validators=[
            MinValueValidator(1, _("Weight must be between 1 and 150 kg.")),
            MaxValueValidator(150, _("Weight must be between 1 and 150 kg.")),
        ],
        help_text=_("Body weight on the day of the procedure."),
    )
    volume_ml = models.DecimalField(
        _("volume infused (mL)"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("100"))],
    )
    puncture_level = models.CharField(
        _("puncture level"), max_length=8, choices=PunctureLevel.choices, default=PunctureLevel.L4_L5
    )
    sedation = models.CharField(_("sedation"), max_length=16, choices=Sedation.choices, default=Sedation.SEDATION)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("intrathecal procedure")
        verbose_name_plural = _("intrathecal procedures")
        ordering = ["date", "id"]
        indexes = [
            models.Index(fields=["date", "id"], name="procedure_list_order"),
            # Each patient's first procedure (months since it, for every list of visits and records).
            models.Index(fields=["patient", "date"], name="procedure_first_per_patient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_kg__gte=1, weight_kg__lte=150),
                name="procedure_weight_1_to_150_kg",
                violation_error_message=_("Weight must be between 1 and 150 kg."),
            ),
            models.CheckConstraint(
                condition=Q(volume_ml__gt=0),
                name="procedure_volume_positive",
                violation_error_message=_("Volume infused must be more than 0 mL."),
            ),
        ]

    def __str__(self):
        return _("Intrathecal procedure %(date)s") % {"date": self.date.isoformat()}

    @property
    def owner_patient(self):
        return self.patient

    @property
    def tnc_per_kg(self):
        """Total nucleated cells per kg of body weight on the day (cells/kg)."""
        return quantities.dose_per_kg(self.product.tnc_count, self.weight_kg)

    @property
    def cd34_per_kg(self):
        """CD34+ cells per kg of body weight on the day (cells/kg), or None if not counted."""
        return quantities.dose_per_kg(self.product.cd34_count, self.weight_kg)

    @property
    def age_in_months(self):
        return self.patient.age_in_months(self.date)

    def clean(self):
        errors = {}
        self.clean_event_date(errors)
        if self.product_id and self.patient_id:
            harvest = self.product.harvest
            if harvest.patient_id != self.patient_id:
                errors["product"] = _("This cell product comes from another patient's harvest (%(study_id)s).") % {
                    "study_id": harvest.patient.study_id
                }
            elif self.date and self.date < harvest.date:
                errors["date"] = _(
                    "The procedure (%(date)s) cannot be before the harvest of its product (%(harvest)s)."
                ) % {"date": self.date.isoformat(), "harvest": harvest.date.isoformat()}
        if errors:
            raise ValidationError(errors)


class AdverseEvent(ClinicalRecord):
    patient_path = "procedure__patient"

    class Outcome(models.TextChoices):
        RECOVERED = "recovered", _("Recovered")
        RECOVERING = "recovering", _("Recovering")
        NOT_RECOVERED = "not-recovered", _("Not recovered")
        SEQUELAE = "sequelae", _("Recovered with sequelae")
        FATAL = "fatal", _("Fatal")
        UNKNOWN = "unknown", _("Unknown")

    procedure = models.ForeignKey(
        IntrathecalProcedure, on_delete=models.PROTECT, related_name="adverse_events", verbose_name=_("procedure")
    )
    onset_date = models.DateField(_("onset date"))
    term = models.CharField(
        _("CTCAE term"), max_length=200, choices=ctcae.CHOICES, help_text=_("CTCAE v5.0, e.g. Headache, Fever.")
    )
    term_other = models.CharField(
        _("other term"),
        max_length=200,
        blank=True,
        help_text=_('The adverse event, when the term is "Other, specify".'),
    )
    grade = models.PositiveSmallIntegerField(
        _("CTCAE grade"),
        validators=[
            MinValueValidator(1, _("CTCAE grade must be between 1 and 5.")),
            MaxValueValidator(5, _("CTCAE grade must be between 1 and 5.")),
        ],
    )
    serious = models.BooleanField(_("serious"), default=False)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.UNKNOWN)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["onset_date", "id"]
        indexes = [models.Index(fields=["onset_date", "id"], name="adverse_event_list_order")]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade__gte=1, grade__lte=5),
                name="adverse_event_grade_1_to_5",
                violation_error_message=_("CTCAE grade must be between 1 and 5."),
            ),
        ]

    def __str__(self):
        term = self.term_other if self.term == ctcae.OTHER and self.term_other else self.term
        return f"{term} ({_('grade')} {self.grade})"

    @property
    def owner_patient(self):
        return self.procedure.patient

    def clean(self):
        errors = {}
        check_not_future(self.onset_date, "onset_date", errors)
        if self.procedure_id and self.onset_date and self.onset_date < self.procedure.date:
            errors["onset_date"] = _(
                "An adverse event of this procedure cannot start (%(onset)s) before the procedure (%(date)s)."
            ) % {"onset": self.onset_date.isoformat(), "date": self.procedure.date.isoformat()}
        if self.term == ctcae.OTHER and not self.term_other.strip():
            errors["term_other"] = _('Name the adverse event: the term is "Other, specify".')
        elif self.term != ctcae.OTHER and self.term_other:
            errors["term_other"] = _('Leave this empty unless the term is "Other, specify".')
        if self.grade == 5 and self.outcome and self.outcome != self.Outcome.FATAL:
            errors["outcome"] = _("A grade 5 adverse event is fatal by definition; set the outcome to Fatal.")
        if errors:
            raise ValidationError(errors)


class Visit(PatientDatedRecord):
    class Kind(models.TextChoices):
        BASELINE = "baseline", _("Baseline")
        FOLLOW_UP = "follow-up", _("Follow-up")
        UNSCHEDULED = "unscheduled", _("Unscheduled")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits", verbose_name=_("patient"))
    date = models.DateField(_("visit date"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["date", "id"]
        # Visits, and scores (ordered by their visit's date), are listed a page at a time in this order.
        indexes = [models.Index(fields=["date", "id"], name="visit_list_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(kind="baseline"),
                name="visit_one_baseline_per_patient",
                violation_error_message=_("This patient already has a baseline visit."),
            ),
            models.UniqueConstraint(
                fields=["patient", "date", "kind"],
                name="visit_unique_patient_date_kind",
                violation_error_message=_("This patient already has a visit of this kind on this date."),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.date.isoformat()}"

    @property
    def owner_patient(self):
        return self.patient

    def months_since_procedure(self, first_procedure_date=None):
        """Months (30.4375 days) from the patient's first intrathecal procedure to this visit.

        Negative before the procedure (a baseline); None while the patient has had none.
        Pass `first_procedure_date` when it is already known, to spare a query.
        """
        first = first_procedure_date or self.patient.first_procedure_date()
        return quantities.months_between(first, self.date)

    def clean(self):
        errors = {}
        self.clean_event_date(errors)
        if errors:
            raise ValidationError(errors)


class Instrument(ClinicalRecord):
    """A clinical scale; scores are validated against its range and allowed values."""

    patient_path = None

    code = models.SlugField(
        _("code"),
        max_length=32,
        unique=True,
        allow_unicode=False,
        error_messages={"unique": _("An instrument with this code already exists.")},
    )
    name = models.CharField(_("name"), max_length=200)
    min_value = models.DecimalField(_("minimum"), max_digits=7, decimal_places=2)
    max_value = models.DecimalField(_("maximum"), max_digits=7, decimal_places=2)
    higher_is_better = models.BooleanField(_("higher is better"), default=True)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    integer_only = models.BooleanField(_("whole numbers only"), default=False)
    value_labels = models.JSONField(
        _("allowed values and labels"),
        default=dict,
        blank=True,
        help_text=_('When set, only these values are allowed, e.g. {"1.5": "1+"} for Modified Ashworth.'),
    )
    written_as_label = models.BooleanField(
        _("values are written as their labels"),
        default=False,
        help_text=_(
            'Pages, API and exports give and take the label ("1+" for Modified Ashworth) rather than its '
            "numeric coding (1.5)."
        ),
    )
    per_muscle_group = models.BooleanField(
        _("scored per muscle group and side"),
        default=False,
        help_text=_("Each visit records one value per muscle group and side (e.g. Modified Ashworth)."),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_value__lt=models.F("max_value")),
                name="instrument_min_below_max",
                violation_error_message=_("The minimum must be below the maximum."),
            ),
        ]

    def __str__(self):
        return self.code

    @property
    def owner_patient(self):
        return None

    def label_for(self, value):
        key = format(Decimal(value).normalize(), "f")
        return self.value_labels.get(key, key)

    def allowed_labels(self):
        """The labels of the allowed values, in the order of their numeric coding."""
        return [self.value_labels[key] for key in sorted(self.value_labels, key=Decimal)]

    def value_from_text(self, text):
        """The numeric coding of ``text``: one of the labels ("1+", "III") or a number ("1.5", "3").

        Raises ValidationError naming ``text`` and the allowed values when it is neither."""
        text = str(text).strip()
        for key, label in (self.value_labels or {}).items():
            if text == label:
                return Decimal(key)
        try:
            value = Decimal(text.replace(",", "."))
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite():
            if self.value_labels:
                message = _("“%(text)s” is not a %(code)s value; %(code)s allows only %(allowed)s.")
                params = {"text": text, "code": self.code, "allowed": ", ".join(self.allowed_labels())}
            else:
                message = _("“%(text)s” is not a number; %(code)s scores range from %(min)s to %(max)s.")
                params = {"text": text, "code": self.code, "min": self.min_value, "max": self.max_value}
            raise ValidationError(message % params, code="invalid")
        return value

    def check_value(self, value):
        """The message for a value this instrument does not allow, or None."""
        if value is None:
            return None
        value = Decimal(value)
        if value < self.min_value or value > self.max_value:
            return _("%(code)s scores range from %(min)s to %(max)s; %(value)s is outside it.") % {
                "code": self.code,
                "min": self.label_for(self.min_value),
                "max": self.label_for(self.max_value),
                "value": format(value.normalize(), "f"),
            }
        if self.value_labels:
            allowed = {Decimal(k) for k in self.value_labels}
            if value not in allowed:
                return _("%(code)s allows only %(allowed)s.") % {
                    "code": self.code,
                    "allowed": ", ".join(self.value_labels[k] for k in sorted(self.value_labels, key=Decimal)),
                }
        elif self.integer_only and value != value.to_integral_value():
            return _("%(code)s takes whole numbers only.") % {"code": self.code}
        return None

    def clean(self):
        for key in self.value_labels or {}:
            try:
                Decimal(key)
            except ArithmeticError:
                raise ValidationError({"value_labels": _('Each allowed value must be a number, e.g. "1.5".')}) from None


# The muscle groups every registry starts with (code, name); their names are translated where shown.
MUSCLE_GROUPS = [
    ("hip-adductors", gettext_noop("hip adductors")),
    ("hamstrings", gettext_noop("hamstrings")),
    ("gastrocnemius-soleus", gettext_noop("gastrocnemius–soleus")),
    ("elbow-flexors", gettext_noop("elbow flexors")),
    ("wrist-flexors", gettext_noop("wrist flexors")),
]
# The schedule's baseline: the visit before the first procedure (a visit of kind baseline fills it).
BASELINE_TIMEPOINT = "baseline"
# Where schedule windows are compared (calendar months vary in length; this date is as good as any).
SCHEDULE_REFERENCE_DATE = dt.date(2001, 1, 15)


class MuscleGroup(models.Model):
    """A muscle group scored on each side by instruments scored per muscle group (Modified Ashworth)."""

    code = models.SlugField(
        _("code"),
        max_length=40,
        unique=True,
        error_messages={"unique": _("A muscle group with this code already exists.")},
    )
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0, help_text=_("Order on the forms."))
    active = models.BooleanField(_("asked on new assessments"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("muscle group")
        verbose_name_plural = _("muscle groups")
        ordering = ["position", "code"]

    def __str__(self):
        # Seeded names are translated (MUSCLE_GROUPS); names added later show as typed.
        return gettext(self.name)


class ScheduledTimepoint(models.Model):
    """One visit of the protocol's schedule: ``months`` after the first intrathecal procedure, inside a
    window before and after that target, with the instruments the visit assesses."""

    class Unit(models.TextChoices):
        MONTHS = "months", _("calendar months")
        DAYS = "days", _("days")

    code = models.SlugField(
        _("code"),
        max_length=20,
        unique=True,
        help_text=_('"baseline" is the visit before the first procedure; follow-ups are e.g. "6m".'),
        error_messages={"unique": _("A timepoint with this code already exists.")},
    )
    months = models.PositiveSmallIntegerField(_("months after the first procedure"))
    window_before = models.PositiveSmallIntegerField(_("window before the target"))
    window_after = models.PositiveSmallIntegerField(_("window after the target"))
    window_unit = models.CharField(_("window unit"), max_length=8, choices=Unit.choices, default=Unit.MONTHS)
    instruments = models.ManyToManyField(
        Instrument,
        blank=True,
        related_name="timepoints",
        verbose_name=_("instruments assessed"),
    )

    history = HistoricalRecords(m2m_fields=[instruments])

    class Meta:
        verbose_name = _("scheduled timepoint")
        verbose_name_plural = _("visit schedule")
        ordering = ["months", "code"]

    def __str__(self):
        return self.code

    @property
    def is_baseline(self):
        return self.code == BASELINE_TIMEPOINT

    def clean(self):
        if self.is_baseline and self.months != 0:
            raise ValidationError({"months": _("The baseline's target is the first procedure: 0 months.")})

        # Windows must not overlap, or one visit would fill two timepoints.
        def window(row):
            return quantities.window_bounds(
                SCHEDULE_REFERENCE_DATE, row.months, row.window_before, row.window_after, row.window_unit
            )

        if None in (self.months, self.window_before, self.window_after):
            return
        start, end = window(self)
        for other in ScheduledTimepoint.objects.exclude(pk=self.pk).exclude(code=BASELINE_TIMEPOINT):
            other_start, other_end = window(other)
            if not self.is_baseline and start <= other_end and other_start <= end:
                raise ValidationError(
                    _("This window overlaps the window of %(code)s; a visit would fill both.") % {"code": other.code}
                )


class Score(ClinicalRecord):
    class Missing(models.TextChoices):
        NOT_DONE = "not-done", _("not done")
        NOT_APPLICABLE = "not-applicable", _("not applicable")
        UNABLE = "unable-to-assess", _("unable to assess")
        REFUSED = "refused", _("refused")
        UNKNOWN = "unknown", _("unknown")

    class Side(models.TextChoices):
        LEFT = "left", _("left")
        RIGHT = "right", _("right")

    patient_path = "visit__patient"
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="scores", verbose_name=_("visit"))
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="scores", verbose_name=_("instrument")
    )
    muscle = models.ForeignKey(
        MuscleGroup,
        on_delete=models.PROTECT,
        related_name="scores",
        null=True,
        blank=True,
        verbose_name=_("muscle group"),
    )
    side = models.CharField(_("side"), max_length=5, choices=Side.choices, blank=True)
    value = models.DecimalField(_("value"), max_digits=7, decimal_places=2, null=True, blank=True)
    missing = models.CharField(
        _("missing because"),
        max_length=20,
        choices=Missing.choices,
        blank=True,
        help_text=_("Instead of a value: why there is none."),
    )
    assessor = models.CharField(_("assessor"), max_length=100, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        ordering = ["visit__date", "instrument__code", "muscle__position", "side"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "instrument"],
                condition=Q(muscle__isnull=True),
                name="score_one_per_instrument_per_visit",
                violation_error_message=_("This visit already has a score for this instrument."),
            ),
            models.UniqueConstraint(
                fields=["visit", "instrument", "muscle", "side"],
                condition=Q(muscle__isnull=False),
                name="score_one_per_muscle_side_per_visit",
                violation_error_message=_("This visit already has a score for this instrument, muscle group and side."),
            ),
            models.CheckConstraint(
                condition=(Q(value__isnull=False) & Q(missing="")) | (Q(value__isnull=True) & ~Q(missing="")),
                name="score_value_or_missing",
                violation_error_message=_("Enter either a value or why it is missing, not both."),
            ),
            models.CheckConstraint(
                condition=(Q(muscle__isnull=True) & Q(side="")) | (Q(muscle__isnull=False) & ~Q(side="")),
                name="score_muscle_with_side",
                violation_error_message=_("A muscle group needs its side, and a side its muscle group."),
            ),
        ]

    def __str__(self):
        where = f" {self.muscle} {self.get_side_display()}" if self.muscle_id else ""
        return f"{self.instrument.code}{where} = {self.display_value}"

    @property
    def owner_patient(self):
        return self.visit.patient

    @property
    def display_value(self):
        if self.value is None:
            return self.get_missing_display()
        return self.instrument.label_for(self.value)

    def clean(self):
        errors = {}
        if self.value is None and not self.missing:
            errors["value"] = _("Enter a value, or say why it is missing.")
        elif self.value is not None and self.missing:
            errors["missing"] = _("A score with a value is not missing; clear one of the two.")
        elif self.instrument_id and self.value is not None:
            message = self.instrument.check_value(self.value)
            if message:
                errors["value"] = message
        if self.instrument_id:
            if self.muscle_id and not self.instrument.per_muscle_group:
                errors["muscle"] = _("%(code)s is not scored per muscle group.") % {"code": self.instrument.code}
            if self.muscle_id and not self.side:
                errors["side"] = _("Say which side this muscle group was scored on.")
            if self.side and not self.muscle_id:
                errors["muscle"] = _("Say which muscle group was scored on this side.")
        if errors:
            raise ValidationError(errors)


class FreeTextRelease(models.Model):
    """A registry-admin's decision that one exact value of a free-text field may appear in research
    views and exports (e.g. the assessor "Physiotherapy team")."""

    field = models.CharField(_("field"), max_length=64)
    value = models.TextField(_("value"), help_text=_("Exactly as it was typed; other values stay hidden."))
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("released by")
    )
    released_at = models.DateTimeField(_("released at"), auto_now_add=True)
    note = models.CharField(_("why it is safe"), max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("free-text release")
        verbose_name_plural = _("free-text releases")
        constraints = [
            models.UniqueConstraint(
                fields=["field", "value"],
                name="free_text_release_once_per_value",
                violation_error_message=_("This value of this field is already released."),
            )
        ]

    def __str__(self):
        from registry.deidentify import free_text_fields

        return f"{free_text_fields().get(self.field, self.field)}: {self.value}"

    def clean(self):
        from registry.deidentify import free_text_fields

        if self.field not in free_text_fields():
            raise ValidationError({"field": _("Not a free-text field of the registry.")})


class AccessLog(models.Model):
    """One read of identified data (a page, an API answer, a scan file), or one research bulk read
    through the API's lists: who, when, what and from where. Written by registry.audit, read by
    registry-admins, edited by nobody (the only permission is `view`)."""

    class Kind(models.TextChoices):
        PATIENT_PAGE = "patient-page", _("Patient page")
        PATIENT_LIST = "patient-list", _("Patient list")
        RECORD_HISTORY = "record-history", _("Record history")
        RECORD_FORM = "record-form", _("Record edit form")
        API_RECORD = "api-record", _("API record")
        API_LIST = "api-list", _("API list")
        SCAN_PAGE = "scan-page", _("Scan page")
        SCAN_FILE = "scan-file", _("Scan file")
        RESEARCH_LIST = "research-list", _("Research bulk read")

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("user")
    )
    # Kept as written, so the entry still names the account after it is renamed or deleted.
    username = models.CharField(_("user name"), max_length=150, db_index=True)
    kind = models.CharField(_("read"), max_length=32, choices=Kind.choices)
    record_type = models.CharField(_("kind of record"), max_length=64, blank=True)
    object_id = models.CharField(_("record"), max_length=64, blank=True)
    path = models.CharField(_("address and query"), max_length=1000)
    ip = models.GenericIPAddressField(_("from IP"), null=True, blank=True)
    user_agent = models.CharField(_("browser or client"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("access")
        verbose_name_plural = _("access log")
        ordering = ["-at", "-pk"]
        default_permissions = ("view",)

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.get_kind_display()} {self.path}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError(_("The access log cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("The access log cannot be changed."))


class AccessedPatient(models.Model):
    """A patient whose data one access showed. The patient is kept by id and study ID rather than by
    a foreign key, so the entry outlives the patient's record."""

    access = models.ForeignKey(AccessLog, on_delete=models.CASCADE, related_name="patients")
    patient_id = models.PositiveBigIntegerField(_("patient"), db_index=True)
    study_id = models.CharField(_("study ID"), max_length=32, db_index=True)

    class Meta:
        verbose_name = _("accessed patient")
        verbose_name_plural = _("accessed patients")
        default_permissions = ()

    def __str__(self):
        return self.study_id


class Query(models.Model):
    """A data-quality query on one record (and field) of a patient: opened by a rule or a person,
    answered by the assigned role, closed (or re-opened) by whoever opened it or a registry-admin.
    Every step is a QueryEvent; the row keeps its history too."""

    patient_path = "patient"  # selectors.visible scopes queries by their patient's site

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    class Role(models.TextChoices):
        HEMATOLOGY = "hematology", _("Hematology")
        RADIOLOGY = "radiology", _("Radiology")
        REGISTRY_ADMIN = "registry-admin", _("Registry admin")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="queries", verbose_name=_("patient"))
    record_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.PROTECT, related_name="+", verbose_name=_("kind of record")
    )
    record_id = models.PositiveBigIntegerField(_("record"))
    field = models.CharField(
        _("field"), max_length=64, blank=True, help_text=_("The field, or the instrument's code for a score.")
    )
    rule = models.CharField(_("rule"), max_length=64, blank=True, help_text=_("Empty when a person opened it."))
    text = models.TextField(_("question"), max_length=2000)
    # A rule's question untranslated, with its values: each reader sees it in their own language.
    message = models.CharField(_("rule's message"), max_length=300, blank=True)
    params = models.JSONField(_("values in the message"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    assigned_role = models.CharField(_("assigned to"), max_length=32, choices=Role.choices, default=Role.HEMATOLOGY)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("opened by"),
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("query")
        verbose_name_plural = _("queries")
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="query_patient_status")]
        permissions = [("manage_queries", _("Can answer, close and re-open any query"))]
        constraints = [
            # A rule opens one query per record and field, however often it runs.
            models.UniqueConstraint(
                fields=["rule", "record_type", "record_id", "field"],
                condition=~Q(rule=""),
                name="query_one_per_rule_record_field",
            ),
        ]

    def __str__(self):
        return _("Query #%(id)s") % {"id": self.pk}

    @property
    def shown_text(self):
        """The question in the reader's language (a rule's) or as its author wrote it (a person's)."""
        if self.message:
            try:
                return gettext(self.message) % self.params
            except (KeyError, TypeError, ValueError):  # a message whose values changed shape
                return self.text
        return self.text


class QueryEvent(models.Model):
    """One step of a query's life: opened, answered, closed or re-opened, by whom (or by a rule), when."""

    class Action(models.TextChoices):
        OPENED = "opened", _("opened")
        ANSWERED = "answered", _("answered")
        CLOSED = "closed", _("closed")
        REOPENED = "reopened", _("re-opened")

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="events", verbose_name=_("query"))
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    note = models.TextField(_("note"), max_length=2000, blank=True)

    class Meta:
        verbose_name = _("query step")
        verbose_name_plural = _("query steps")
        ordering = ["at", "pk"]
        default_permissions = ("view",)

    def __str__(self):
        return f"{self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


class Signature(models.Model):
    """An investigator's electronic signature of a visit (with its scores) or of a whole patient's
    data: who, when, the meaning they confirmed. While it stands (not voided) the records it covers
    are locked; a registry-admin's unlock voids it with a reason."""

    patient_path = "patient"  # selectors.visible scopes signatures by their patient's site

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="signatures", verbose_name=_("patient"))
    visit = models.ForeignKey(
        Visit,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="signatures",
        verbose_name=_("visit"),
        help_text=_("Empty when the signature covers all of the patient's data."),
    )
    subject = models.CharField(_("what was signed"), max_length=200)
    meaning = models.TextField(_("meaning of the signature"))
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("signed by")
    )
    # Kept as written, so the signature still names its signer after the account is renamed or deleted.
    signer_name = models.CharField(_("signer"), max_length=150)
    signed_at = models.DateTimeField(_("signed at"), default=timezone.now)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("voided by"),
    )
    void_reason = models.TextField(_("reason for unlocking"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["-signed_at", "-pk"]
        permissions = [
            ("sign_records", _("Can sign visits and patients' data as investigator")),
            ("unlock_records", _("Can unlock signed records, voiding the signature")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["visit"],
                condition=Q(voided_at__isnull=True, visit__isnull=False),
                name="signature_one_standing_per_visit",
                violation_error_message=_("This visit is already signed."),
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(voided_at__isnull=True, visit__isnull=True),
                name="signature_one_standing_per_patient",
                violation_error_message=_("This patient's data are already signed."),
            ),
        ]

    def __str__(self):
        return _("%(subject)s signed by %(who)s on %(when)s") % {
            "subject": self.subject,
            "who": self.signer_name,
            "when": timezone.localtime(self.signed_at).strftime("%Y-%m-%d %H:%M"),
        }
