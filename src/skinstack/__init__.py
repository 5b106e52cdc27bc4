"""SkinStack: open affiliate platform for influencer skincare marketing."""

__version__ = "0.1.0"
