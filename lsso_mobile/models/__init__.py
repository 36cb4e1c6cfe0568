"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from lsso_mobile.models.areas import District, Office, OfficeLevel, Province, Village
from lsso_mobile.models.auth import AuthSession, IntegrationClient, OtpCode, RefreshToken, SignInFailure
from lsso_mobile.models.base import Base, utcnow
from lsso_mobile.models.contributions import (
    BenefitClaim,
    BenefitPayment,
    BenefitType,
    ClaimStatus,
    ClaimStatusChange,
    Contribution,
    ContributionReminder,
    ContributionStatus,
    EligibilityRule,
    SchemeRule,
)
from lsso_mobile.models.messaging import (
    Attachment,
    CannedReply,
    Conversation,
    ConversationCategory,
    ConversationStatus,
    Holiday,
    Message,
    WorkingHours,
)
from lsso_mobile.models.notification import (
    Delivery,
    DeliveryStatus,
    Device,
    DispatchStatus,
    Notification,
    NotificationPreference,
    Platform,
)
from lsso_mobile.models.people import InsuredPerson, Language, Member, Scheme, Sex, StaffRole, StaffUser
from lsso_mobile.models.registration import ApplicationStatus, RegistrationApplication, RegistrationEvent

__all__ = [
    "BenefitClaim",
    "BenefitPayment",
    "BenefitType",
    "ClaimStatus",
    "ClaimStatusChange",
    "Contribution",
    "ContributionReminder",
    "ContributionStatus",
    "EligibilityRule",
    "SchemeRule",
    "ApplicationStatus",
    "AuthSession",
    "Base",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "DispatchStatus",
    "District",
    "InsuredPerson",
    "IntegrationClient",
    "Language",
    "Member",
    "Notification",
    "NotificationPreference",
    "Office",
    "OfficeLevel",
    "OtpCode",
    "Platform",
    "Province",
    "RefreshToken",
    "RegistrationApplication",
    "RegistrationEvent",
    "Scheme",
    "Sex",
    "SignInFailure",
    "StaffRole",
    "StaffUser",
    "Village",
    "utcnow",
    # messaging
    "Attachment",
    "CannedReply",
    "Conversation",
    "ConversationCategory",
    "ConversationStatus",
    "Holiday",
    "Message",
    "WorkingHours",
]
