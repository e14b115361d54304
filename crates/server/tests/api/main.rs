//! Integration tests: a real `parley` server on an ephemeral port, driven through the SDK as clients do.
//! One test binary, one file per feature.

mod openapi;
