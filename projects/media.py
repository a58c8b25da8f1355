"""Serving item images: only through views that checked membership first."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404

from projects.models import Item, Project

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def item_image_response(project: Project, item_id: int, *, thumbnail: bool) -> FileResponse:
    item = Item.objects.filter(project=project, pk=item_id).exclude(image="").first()
    if item is None:
        raise Http404("No such image in this project.")
    path = Path(settings.MEDIA_ROOT) / item.image
    if thumbnail:
        thumb = path.with_name(f"{path.stem}.thumb.webp")
        path = thumb if thumb.exists() else path
    if not path.is_file():
        raise Http404("The image file is missing.")
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    response = FileResponse(handle, content_type=CONTENT_TYPES.get(path.suffix.lower()))
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
