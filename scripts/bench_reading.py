"""How long read_document takes per format, in milliseconds per page read, on files it makes;
then, given a folder (e.g. ../shared/eval/dev), reads every file in its docs/ and reports
failures, the type detected per file extension and the time.

    .venv/bin/python scripts/bench_reading.py [../shared/eval/dev] [--tokens 500]

For formats without pages (text, HTML, email, Word) a "page" is the whole file. CPU time is
shown beside wall time: on a busy machine (a model server classifying) it shows what reading
itself costs; OCR spreads each page over every core, so its CPU time exceeds its wall time.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pymupdf
from PIL import Image

from app.reading import UnreadableFile, read_document

PROSE = (
    "This Service Agreement is entered into by Brightline Analytics Inc. and Harbor Foods LLC."
    " The Provider shall deliver the services described in Schedule A, and the Client shall"
    " pay the fees set out in Schedule B within thirty days of each invoice. "
)
PAGE = PROSE * 16  # about 3,000 characters: a full page of prose


def pdf_bytes(pages: int) -> bytes:
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 800), f"Page {number + 1}\n{PAGE}")
    return doc.tobytes()


def page_image() -> Image.Image:
    """An A4 page of prose at 200 dpi, as a scanner gives it."""
    doc = pymupdf.open(stream=pdf_bytes(1))
    pixmap = doc[0].get_pixmap(dpi=200)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def scanned_pdf_bytes(image: Image.Image, pages: int) -> bytes:
    png = io.BytesIO()
    image.save(png, "PNG")
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_image(page.rect, stream=png.getvalue())
    return doc.tobytes()


def image_bytes(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def email_bytes() -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "legal@brightline.example", "ops@harbor.example"
    message["Subject"], message["Date"] = "Signed agreement", "Tue, 03 Mar 2026 10:00:00 +0100"
    message.set_content(PAGE)
    message.add_alternative(f"<p>{PAGE}</p>", subtype="html")
    return message.as_bytes()


def docx_bytes() -> bytes:
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = f"<w:p><w:r><w:t>{PROSE}</w:t></w:r></w:p>" * 16
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(
            "word/document.xml", f'<w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
        )
    return out.getvalue()


def epub_bytes(chapters: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr(
            "META-INF/container.xml",
            '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="book.opf" media-type="application/oebps-package+xml"'
            "/></rootfiles></container>",
        )
        items = "".join(
            f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
            for i in range(chapters)
        )
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(chapters))
        zf.writestr(
            "book.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata/>'
            f"<manifest>{items}</manifest><spine>{spine}</spine></package>",
        )
        for i in range(chapters):
            zf.writestr(
                f"c{i}.xhtml",
                f'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>{PAGE}</p></body></html>',
            )
    return out.getvalue()


def samples() -> dict[str, Callable[[], bytes]]:
    image = page_image()
    return {
        "pdf, text layer (20 pages)": lambda: pdf_bytes(20),
        "pdf, text layer (500 pages)": lambda: pdf_bytes(500),
        "pdf, scanned (3 pages)": lambda: scanned_pdf_bytes(image, 3),
        "png (A4 page, 200 dpi)": lambda: image_bytes(image, "PNG"),
        "jpeg (A4 page, 200 dpi)": lambda: image_bytes(image, "JPEG"),
        "tiff (A4 page, 200 dpi)": lambda: image_bytes(image, "TIFF"),
        "webp (A4 page, 200 dpi)": lambda: image_bytes(image, "WEBP"),
        "text": lambda: PAGE.encode(),
        "markdown": lambda: f"# Agreement\n\n- {PROSE}\n- [Schedule A](a.md)\n\n{PAGE}".encode(),
        "csv": lambda: "\n".join(f"{n},{n * 3}.50,Harbor Foods" for n in range(2000)).encode(),
        "html": lambda: f"<html><body><h1>Agreement</h1><p>{PAGE}</p></body></html>".encode(),
        "email": email_bytes,
        "docx": docx_bytes,
        "epub (20 chapters)": lambda: epub_bytes(20),
    }


def timed(path: Path, tokens: int) -> tuple[float, float, int, str]:
    """Wall and CPU seconds to read `path`, the pages read and the type detected."""
    start, cpu = time.perf_counter(), time.process_time()
    document = read_document(path, tokens)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu_seconds, len(document.pages_used or (1,)), document.kind


def bench_formats(tokens: int, repeats: int) -> None:
    print(
        f"{'format':30} {'type':9} {'pages read':>10} {'ms/file':>9} {'ms/page':>9}"
        f" {'cpu ms/page':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"  # the OCR engine loads on first use: not counted below
        warm.write_bytes(image_bytes(Image.new("RGB", (64, 64), "white"), "PNG"))
        read_document(warm, tokens)
        for name, make in samples().items():
            path = Path(tmp) / "sample"
            path.write_bytes(make())
            runs = [timed(path, tokens) for _ in range(1 if "200 dpi" in name else repeats)]
            seconds = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            pages, kind = runs[0][2], runs[0][3]
            print(
                f"{name:30} {kind:9} {pages:>10} {seconds * 1000:>9.1f}"
                f" {seconds * 1000 / pages:>9.1f} {cpu * 1000 / pages:>12.1f}"
            )


def bench_folder(folder: Path, tokens: int) -> None:
    docs = sorted((folder / "docs").iterdir())
    kinds: Counter[tuple[str, str]] = Counter()
    seconds: defaultdict[str, list[float]] = defaultdict(list)
    pages: Counter[str] = Counter()
    failures = []
    for path in docs:
        try:
            took, _, used, kind = timed(path, tokens)
        except UnreadableFile as exc:
            failures.append(f"{path.name}: {exc}")
            continue
        kinds[(path.suffix, kind)] += 1
        seconds[path.suffix].append(took)
        pages[path.suffix] += used
    print(f"\n{folder}: {len(docs)} files, {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    for (suffix, kind), count in sorted(kinds.items()):
        print(f"  {suffix:5} read as {kind:8} {count:4} files")
    for suffix, times in sorted(seconds.items()):
        total = sum(times) * 1000
        print(
            f"  {suffix:5} {total:8.0f} ms in all, median {statistics.median(times) * 1000:6.1f}"
            f" ms/file, max {max(times) * 1000:6.0f} ms, {total / pages[suffix]:6.1f} ms/page"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_formats(args.tokens, args.repeats)
    if args.folder:
        bench_folder(args.folder, args.tokens)


if __name__ == "__main__":
    main()
