from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "mairie.documents"
    label = "documents"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from mairie.documents.checks import align_pillow_limit, on_setting_changed

        # Pillow's decompression-bomb limit follows the platform's (see align_pillow_limit).
        align_pillow_limit()
        setting_changed.connect(on_setting_changed, dispatch_uid="mairie.documents.pillow_limit")
