"""ORM models, one module per table; importing this package registers them all."""

from skinstack.models.audit_log import AuditLog
from skinstack.models.base import Base
from skinstack.models.influencer import Influencer
from skinstack.models.merchant import Merchant
from skinstack.models.merchant_integration import IntegrationType, MerchantIntegration
from skinstack.models.user import Role, User

__all__ = [
    "AuditLog",
    "Base",
    "Influencer",
    "IntegrationType",
    "Merchant",
    "MerchantIntegration",
    "Role",
    "User",
]
