"""Real media, small enough to be quick: images showing the prompt, and a short cached MP4."""

import hashlib
import io
import subprocess
import tempfile
import textwrap
import threading
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFont

LONG_SIDE = 512
VIDEO_LONG_SIDE = 320
VIDEO_SECONDS = 1.5
VIDEO_FPS = 12


def dimensions(aspect_ratio: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """Width and height for "16:9"-style ratios; "Auto" or nonsense means 16:9."""
    try:
        width_part, height_part = (float(part) for part in aspect_ratio.split(":"))
    except ValueError:
        width_part, height_part = 16.0, 9.0
    if width_part <= 0 or height_part <= 0:
        width_part, height_part = 16.0, 9.0
    if width_part >= height_part:
        width, height = long_side, round(long_side * height_part / width_part)
    else:
        width, height = round(long_side * width_part / height_part), long_side
    # Even sizes: H.264 with yuv420p refuses odd ones.
    return width - width % 2, height - height % 2


def render_image(prompt: str, aspect_ratio: str, image_format: str = "png", label: str = "") -> bytes:
    width, height = dimensions(aspect_ratio)
    seed = hashlib.sha256(prompt.encode()).digest()
    background = (40 + seed[0] % 120, 40 + seed[1] % 120, 40 + seed[2] % 120)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    font_size = max(14, width // 22)
    font = ImageFont.load_default(size=font_size)
    small = ImageFont.load_default(size=max(10, width // 40))
    # Roughly half a font size per character keeps lines inside the frame.
    lines = textwrap.wrap(prompt or "(empty prompt)", width=max(12, (width * 7 // 8) // (font_size // 2 + 1)))
    y = height // 8
    for line in lines[:12]:
        draw.text((width // 16, y), line, fill=(245, 245, 245), font=font)
        y += int(font_size * 1.3)
    draw.text((width // 16, height - height // 10), f"{label} {aspect_ratio}".strip(), fill=(220, 220, 220), font=small)
    output = io.BytesIO()
    if image_format.lower() in ("jpg", "jpeg"):
        image.save(output, format="JPEG", quality=85)
    else:
        image.save(output, format="PNG", optimize=False)
    return output.getvalue()


class VideoCache:
    """Encodes one clip per frame size on first use; every Veo3 task gets the cached bytes."""

    def __init__(self) -> None:
        self._clips: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def clip(self, aspect_ratio: str) -> bytes:
        size = dimensions(aspect_ratio, VIDEO_LONG_SIDE)
        with self._lock:
            if size not in self._clips:
                self._clips[size] = encode_test_clip(*size)
            return self._clips[size]


def encode_test_clip(width: int, height: int) -> bytes:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="provider-sim-") as workdir:
        target = Path(workdir) / "clip.mp4"
        source = f"testsrc2=size={width}x{height}:rate={VIDEO_FPS}:duration={VIDEO_SECONDS}"
        command = [ffmpeg, "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", source]
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        command += ["-movflags", "+faststart", "-f", "mp4", str(target)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        return target.read_bytes()
