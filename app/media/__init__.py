"""Media layer: probe files, make proxies and thumbnails with PyAV and Pillow."""
from .errors import MediaError, ProxyCancelled
from .probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo, probe_file, sniff_media_type
from .proxies import IMAGE_PROXY_SPEC, VIDEO_PROXY_SPEC, ProxyResult, make_image_proxy, make_video_proxy
from .thumbnails import ThumbResult, extract_frame_jpeg, make_thumbnail

__all__ = ["IMAGE_EXTENSIONS", "IMAGE_PROXY_SPEC", "VIDEO_EXTENSIONS", "VIDEO_PROXY_SPEC", "MediaError",
           "MediaInfo", "ProxyCancelled", "ProxyResult", "ThumbResult", "extract_frame_jpeg",
           "make_image_proxy", "make_thumbnail", "make_video_proxy", "probe_file", "sniff_media_type"]
