"""OCI registries: the HTTP client (``oci.client``) Docker, Trivy and Cosign tasks share."""
