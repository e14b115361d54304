//! The served OpenAPI document matches `docs/openapi.json`.
