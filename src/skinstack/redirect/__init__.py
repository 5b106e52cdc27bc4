"""The redirect hot path: slug to destination, click id, cookie, click sink."""
