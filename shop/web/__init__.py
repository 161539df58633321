"""The HTTP face of the shop: the JSON API, the shopper pages, the operator views and board, security,
the OpenAPI document, translations and the CLI. It validates, admits through the lanes and reads through
the domain; it is the one layer that maps domain errors to HTTP statuses.
"""
