"""The JSON API's request and response shapes, as typed pydantic models.

The views validate what they are sent with ``requests`` (and ``products``) and serialise what they
answer with ``responses`` (and ``results``); ``shop.web.openapi`` generates the OpenAPI document from
these same models and from the app's routes, so the document cannot drift from what is checked.
"""
