"""Small shared tools: crypto, schemas, pagination."""
