"""`validate --preannotated-from-fields`: flat inference output checked as upload will send it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="Positive"/><Choice value="Negative"/>
  </Choices>
</View>"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsimport", "validate", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_flat_labels_are_checked_against_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    data = tmp_path / "inference.csv"
    data.write_text("text,sentiment,score\ngood,Positive,0.9\nbad,Negatve,0.7\nnone,,\n")
    result = _run(str(data), "-c", str(config), "--preannotated-from-fields", "sentiment,score")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{data}:3: record 2: /predictions/0/result/0/value/choices: error: 'Negatve' not among"
        " the labels of 'sentiment' ('Negative', 'Positive'): Label Studio's check refuses it,"
        " so /import/predictions drops the prediction [config.label]",
        "FAILED: 3 record(s) in 1 file(s): 2 valid, 1 invalid, 0 warning(s)",
    ]


def test_needs_a_config(tmp_path: Path) -> None:
    data = tmp_path / "inference.csv"
    data.write_text("text,sentiment\ngood,Positive\n")
    result = _run(str(data), "--preannotated-from-fields", "sentiment")
    assert result.returncode == 2
    assert "needs --label-config or --project" in result.stderr
    assert "Traceback" not in result.stderr
