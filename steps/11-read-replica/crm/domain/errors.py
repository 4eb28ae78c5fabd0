"""What can go wrong in the business's own terms."""


class CustomerNotFound(LookupError):
    pass


class CustomerIdTaken(ValueError):
    """Another customer already has this customer_id."""
