"""HLS streaming of uploaded videos: probing (ffprobe), rendition planning, transcoding with ffmpeg
into ``hls/<sha256>/`` of the object store, and the ``/api/stream/<sha256>/...`` routes.

Wire it into a gateway with ``create_app(settings, services, extensions=[install_hls])``.
"""

from .app import install_hls

__all__ = ["install_hls"]
