"""MOT challenge tracks -> one video task per sequence, one videorectangle per track.

Input: a sequence directory (`seqinfo.ini`, `gt/gt.txt` or `det/det.txt`) or track files
(`frame,id,left,top,width,height,conf,...` in pixels, frames from 1; what trackers write
for MOT evaluation). Geometry becomes percent of the video size (`seqinfo.ini`'s imWidth,
imHeight, or --video-size), each box a keyframe at its frame, time frame / framerate (as
the editor saves it; seqinfo.ini's frameRate, or --framerate). A track's keyframes stay
enabled while its frames follow each other; the last one before a gap, and its very last,
end it (`enabled: false`), as the editor marks the end of a track's lifespan. The task's
`data.video` is the sequence's name + ".mp4" under --image-root-url.

In a ground-truth file (`gt.txt`) the 7th column is a flag, and rows with 0 (ignored by
MOT evaluation) are left out; elsewhere it is the confidence and its mean over a track
becomes the region's score. The 8th column, when --classes names it, is the label;
otherwise every track is an "object".
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsimport.convert.core import (
    Plan,
    TaskBuilder,
    join_url,
    parse_classes,
)
from lsimport.errors import UsageError
from lsimport.model import Record, error
from lsimport.settings import ConvertOptions

DEFAULT_ROOT_URL = "/data/local-files/?d=videos"
DEFAULT_FRAMERATE = 25.0
DEFAULT_LABEL = "object"


class Sequence:
    """One track file and what the sequence tells about the video."""

    def __init__(self, tracks: Path, info: Path | None) -> None:
        self.tracks = tracks
        self.info = info
        self.name = tracks.stem
        self.width = self.height = self.length = 0
        self.framerate: float | None = None
        if info is not None:
            parser = configparser.ConfigParser()
            try:
                parser.read(info, encoding="utf-8")
                seq = parser["Sequence"]
                self.name = seq.get("name", self.name)
                self.width = seq.getint("imWidth", 0)
                self.height = seq.getint("imHeight", 0)
                self.length = seq.getint("seqLength", 0)
                rate = seq.getfloat("frameRate", 0.0)
                self.framerate = rate or None
            except (configparser.Error, KeyError, ValueError) as exc:
                raise UsageError(f"{info}: not a MOT seqinfo.ini: {exc}") from exc


def _sequence(path: Path) -> Sequence:
    if path.is_dir():
        info = path / "seqinfo.ini"
        for rel in ("gt/gt.txt", "det/det.txt"):
            if (path / rel).is_file():
                return Sequence(path / rel, info if info.is_file() else None)
        raise UsageError(f"{path}: no gt/gt.txt or det/det.txt in this sequence directory")
    for info in (path.parent / "seqinfo.ini", path.parent.parent / "seqinfo.ini"):
        if info.is_file():
            return Sequence(path, info)
    return Sequence(path, None)


class MotConverter:
    def __init__(self, paths: list[Path], options: ConvertOptions) -> None:
        self.options = options
        self.sequences = [_sequence(p) for p in paths]
        self.names = parse_classes(options.classes) if options.classes else None
        rates = {s.framerate for s in self.sequences if s.framerate}
        self.framerate = options.framerate or (rates.pop() if len(rates) == 1 else None)
        if self.framerate is None:
            if rates:
                raise UsageError(
                    "the sequences have different frame rates; a project's <Video> has one",
                    hint="convert them apart, or pass --framerate",
                )
            self.framerate = DEFAULT_FRAMERATE
        for s in self.sequences:
            if options.video_size:
                s.width, s.height = options.video_size
            if not (s.width and s.height):
                raise UsageError(
                    f"{s.tracks}: the video size is unknown (no seqinfo.ini with imWidth)",
                    hint="pass --video-size WIDTHxHEIGHT",
                )

    def plan(self) -> Plan:
        labels = tuple(dict.fromkeys(self.names.values())) if self.names else (DEFAULT_LABEL,)
        return Plan("video", ("videorectangle",), labels, {"framerate": f"{self.framerate:g}"})

    def inputs(self) -> list[Path]:
        return [p for s in self.sequences for p in (s.tracks, s.info) if p is not None]

    def records(self, build: TaskBuilder) -> Iterator[Record]:
        for number, seq in enumerate(self.sequences, 1):
            yield self._task(seq, number, build)

    def _task(self, seq: Sequence, number: int, build: TaskBuilder) -> Record:
        assert self.framerate is not None
        gt = seq.tracks.name == "gt.txt"
        tracks: dict[str, list[tuple[int, list[float], str]]] = {}
        findings = []
        first_bad = 0
        last_frame = 0
        with seq.tracks.open("r", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = [float(v) for v in line.replace(",", " ").split()]
                    if len(row) < 6:
                        raise ValueError("a track line is frame,id,left,top,width,height,conf,...")
                    conf = row[6] if len(row) > 6 else 1.0
                    if gt and conf == 0:
                        continue
                    label = self._label(row)
                except (ValueError, KeyError) as exc:
                    first_bad = first_bad or line_no
                    findings.append(error("convert.mot", f"line {line_no}: {exc.args[0]}"))
                    continue
                frame = int(row[0])
                last_frame = max(last_frame, frame)
                tracks.setdefault(f"{int(row[1])}", []).append((frame, [*row[2:6], conf], label))
        if findings:
            return Record(str(seq.tracks), number, first_bad, None, findings=findings)
        frames = seq.length or last_frame
        regions = [
            self._region(track_id, boxes, seq, frames, gt, build)
            for track_id, boxes in tracks.items()
        ]
        root = self.options.image_root_url or DEFAULT_ROOT_URL
        data = {"video": join_url(root, f"{seq.name}.mp4")}
        return Record(str(seq.tracks), number, 1, build.task(data, regions))

    def _label(self, row: list[float]) -> str:
        if self.names is None:
            return DEFAULT_LABEL
        if len(row) < 8:
            raise ValueError("--classes names the 8th column (class), which this line lacks")
        cls = int(row[7])
        if cls not in self.names:
            raise ValueError(f"class {cls} is not in --classes")
        return self.names[cls]

    def _region(
        self,
        track_id: str,
        boxes: list[tuple[int, list[float], str]],
        seq: Sequence,
        frames: int,
        gt: bool,
        build: TaskBuilder,
    ) -> dict[str, Any]:
        assert self.framerate is not None
        boxes.sort(key=lambda b: b[0])
        w, h = seq.width, seq.height
        sequence = []
        for i, (frame, (left, top, bw, bh, _), _label) in enumerate(boxes):
            follows = i + 1 < len(boxes) and boxes[i + 1][0] == frame + 1
            sequence.append(
                {
                    "frame": frame,
                    "enabled": follows,
                    "rotation": 0,
                    "x": left / w * 100,
                    "y": top / h * 100,
                    "width": bw / w * 100,
                    "height": bh / h * 100,
                    "time": frame / self.framerate,  # as the editor saves it
                }
            )
        value: dict[str, Any] = {
            "sequence": sequence,
            "framesCount": frames,
            "duration": frames / self.framerate,
        }
        scores = [b[1][4] for b in boxes]
        score = None if gt else sum(scores) / len(scores)
        region = build.region("videorectangle", value, boxes[0][2], score=score)
        region["id"] = f"track{track_id}"
        return region
