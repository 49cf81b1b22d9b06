from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "mairie.documents"
    label = "documents"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow refuses (instead of warning about) images above the platform's limit.
        Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS // 2
