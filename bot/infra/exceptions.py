"""Small exception classes; edges translate them into a clear message for their audience."""


class SurveybotError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SurveybotError):
    """The configuration is missing something or is unsafe for this environment."""


class QuestionnaireError(SurveybotError):
    """A questionnaire file cannot be loaded."""


class InvalidSignature(SurveybotError):
    """A webhook request is not signed by Twilio with our auth token."""


class SessionConflict(SurveybotError):
    """A conversation transition kept losing the race for its Redis keys."""


class OutsideWhatsAppWindow(SurveybotError):
    """Free-form text to a WhatsApp user more than 24 hours after their last message: WhatsApp
    refuses it (Twilio error 63016); only an approved template may go out."""


class StorageError(SurveybotError):
    """A completed response could not be written to the database (the job will retry)."""


class MailError(SurveybotError):
    """An email could not be sent: a permanent SMTP refusal, or temporary failures that outlasted
    every retry. The message names the SMTP reply (code and text), never the email's content."""


class MailInDoubt(MailError):
    """The connection failed after the whole message was handed to the relay, before its
    answer: the relay may have accepted it. Never retried automatically (at most once)."""
