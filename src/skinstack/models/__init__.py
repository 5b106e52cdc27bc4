"""ORM models, one module per table; importing this package registers them all."""

from skinstack.models.audit_log import AuditLog
from skinstack.models.base import Base
from skinstack.models.campaign import Campaign
from skinstack.models.click import Click
from skinstack.models.influencer import Influencer
from skinstack.models.merchant import Merchant
from skinstack.models.merchant_integration import IntegrationType, MerchantIntegration
from skinstack.models.network import Network
from skinstack.models.product import CATEGORIES, Product
from skinstack.models.program import ATTRIBUTION_MODELS, Program
from skinstack.models.tracking_link import TrackingLink
from skinstack.models.user import Role, User

__all__ = [
    "ATTRIBUTION_MODELS",
    "CATEGORIES",
    "AuditLog",
    "Base",
    "Campaign",
    "Click",
    "Influencer",
    "IntegrationType",
    "Merchant",
    "MerchantIntegration",
    "Network",
    "Product",
    "Program",
    "Role",
    "TrackingLink",
    "User",
]
