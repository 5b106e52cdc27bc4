"""ORM models, one module per table; importing this package registers them all."""

from skinstack.models.amazon_tracking_id import AmazonTrackingId
from skinstack.models.analytics import (
    AnalyticsClickBucket,
    AnalyticsClickDevice,
    AnalyticsMoneyBucket,
    AnalyticsRefreshState,
)
from skinstack.models.attribution import MATCH_TYPES, Attribution
from skinstack.models.audit_log import AuditLog
from skinstack.models.base import Base
from skinstack.models.campaign import Campaign
from skinstack.models.click import Click
from skinstack.models.commission import (
    RECALCULABLE,
    Commission,
    CommissionStatus,
    HoldReason,
)
from skinstack.models.conversion import Conversion, ConversionStatus
from skinstack.models.conversion_adjustment import ConversionAdjustment
from skinstack.models.coupon import Coupon
from skinstack.models.influencer import Influencer
from skinstack.models.ledger import LedgerEntry, LedgerPosting, PostingKind
from skinstack.models.merchant import Merchant
from skinstack.models.merchant_integration import IntegrationType, MerchantIntegration
from skinstack.models.network import Network
from skinstack.models.payout import (
    FINAL,
    NEXT,
    BatchStatus,
    Payout,
    PayoutBatch,
    PayoutItem,
    PayoutMethod,
    PayoutStatus,
)
from skinstack.models.product import CATEGORIES, Product
from skinstack.models.program import ATTRIBUTION_MODELS, Program
from skinstack.models.reversal import Reversal, ReversalKind, TakenFrom
from skinstack.models.tracking_link import TrackingLink
from skinstack.models.user import Role, User
from skinstack.models.webhook_event import (
    ORDER_SOURCES,
    PAYOUT_SOURCES,
    EventStatus,
    WebhookEvent,
    WebhookSource,
)

__all__ = [
    "ATTRIBUTION_MODELS",
    "CATEGORIES",
    "FINAL",
    "MATCH_TYPES",
    "NEXT",
    "ORDER_SOURCES",
    "PAYOUT_SOURCES",
    "RECALCULABLE",
    "AmazonTrackingId",
    "AnalyticsClickBucket",
    "AnalyticsClickDevice",
    "AnalyticsMoneyBucket",
    "AnalyticsRefreshState",
    "Attribution",
    "AuditLog",
    "Base",
    "BatchStatus",
    "Campaign",
    "Click",
    "Commission",
    "CommissionStatus",
    "Conversion",
    "ConversionAdjustment",
    "ConversionStatus",
    "Coupon",
    "EventStatus",
    "HoldReason",
    "Influencer",
    "IntegrationType",
    "LedgerEntry",
    "LedgerPosting",
    "Merchant",
    "MerchantIntegration",
    "Network",
    "Payout",
    "PayoutBatch",
    "PayoutItem",
    "PayoutMethod",
    "PayoutStatus",
    "PostingKind",
    "Product",
    "Program",
    "Reversal",
    "ReversalKind",
    "Role",
    "TakenFrom",
    "TrackingLink",
    "User",
    "WebhookEvent",
    "WebhookSource",
]
