"""Domain errors. Every message names the value that was refused."""


class DomainError(Exception):
    """A command was refused; nothing was recorded."""


class InvalidInput(DomainError):
    """A value given to a command is malformed or unknown; `field` names it when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TransitionRefused(DomainError):
    """The lifecycle table does not allow this command in the entry's current state."""


class NotFound(DomainError):
    """No customer, queue entry or location has this id."""
