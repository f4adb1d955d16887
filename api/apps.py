from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Client API"

    def ready(self) -> None:
        # Clients open the event stream (live/) with their token; live never
        # imports the API, the API registers its check there.
        from api import tokens
        from live import auth

        auth.register_tokens(auth.TokenCheck(authenticate=tokens.stream_token, still_active=tokens.still_active))
