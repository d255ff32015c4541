"""Writes the survey tools' test exports in tests/foundation/data/tools/ (run it to remake them).

    python tests/foundation/tool_exports.py

Every file holds the same answers (``CANONICAL``: two groups of the mini programme, wave
``before``) written the way one tool writes them, as its documentation describes the export:
delimiter, encoding, quoting, header rows, the tool's own columns, how a Likert answer is coded
and how "don't know" is coded. The items are this project's own lagprofil items. ``canonical.csv``
holds the same answers in the kit's own format, so a test can compare the scores.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data" / "tools"
NA = "na"  # "don't know" in CANONICAL
GROUPS = (("mini-a", 6), ("mini-b", 5))


def canonical() -> list[dict[str, str]]:
    """The answers: respondent, group, wave, role, Q01..Q56 ('' blank, 'na' don't know), O1..O3."""
    from kit.instrument import load_instrument

    inst = load_instrument("lagprofil")
    rng = np.random.default_rng(10)
    rows = []
    n = 0
    for group, size in GROUPS:
        for k in range(size):
            n += 1
            row = {
                "respondent": f"{1000 + n}",
                "group": group,
                "wave": "before",
                "role": "leader" if k == 0 else "member",
            }
            level = rng.normal(4.5, 0.6)
            for item in inst.items:
                u = rng.random()
                if u < 0.03:
                    row[item.id] = ""
                elif u < 0.06:
                    row[item.id] = NA
                else:
                    row[item.id] = str(int(np.clip(round(level + rng.normal(0, 1.1)), 1, 7)))
            row["O1"] = "Vi er ærlige med hverandre; møtene er gode." if k % 2 == 0 else ""
            row["O2"] = "Før møtene bør sakene være forberedt, «alltid»." if k % 3 == 0 else ""
            row["O3"] = ""
            rows.append(row)
    return rows


def items() -> list[str]:
    from kit.instrument import load_instrument

    return list(load_instrument("lagprofil").item_ids)


def item_texts(lang: str) -> list[str]:
    from kit.instrument import load_instrument

    return [i.text[lang] for i in load_instrument("lagprofil").items]


def open_texts(lang: str) -> list[str]:
    from kit.instrument import load_instrument

    return [q.text[lang] for q in load_instrument("lagprofil").open_questions]


def na_label(lang: str) -> str:
    from kit.instrument import load_instrument

    return load_instrument("lagprofil").scale.not_applicable[lang]


def labels(lang: str) -> list[str]:
    from kit.instrument import load_instrument

    return list(load_instrument("lagprofil").scale.labels[lang])


def _csv(rows: list[list[str]], sep: str, quote_all: bool, crlf: bool = False) -> str:
    out = io.StringIO()
    csv.writer(
        out,
        delimiter=sep,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        lineterminator="\r\n" if crlf else "\n",
    ).writerows(rows)
    return out.getvalue()


def _answer(value: str, na: str, code=lambda v: v) -> str:
    return "" if value == "" else na if value == NA else code(value)


def write_canonical(rows: list[dict[str, str]]) -> None:
    head = list(rows[0])
    body = [[("Vet ikke" if r[h] == NA else r[h]) for h in head] for r in rows]
    (DATA_DIR / "canonical.csv").write_text(_csv([head, *body], ";", False), encoding="utf-8")


def write_nettskjema(rows: list[dict[str, str]]) -> None:
    # $-columns, codebook names (matrix.row), option values; "Vet ikke" = 99.
    head = [
        "$submission_id",
        "$created",
        "$answer_time_ms",
        "team",
        "rolle",
        *[f"{'lagprofil' if k < 28 else 'klima'}.{i}" for k, i in enumerate(items())],
        "k.O1",
        "k.O2",
        "k.O3",
    ]
    body = []
    for n, r in enumerate(rows):
        body.append(
            [
                str(24011000 + n),
                f"2026-01-05 09:{10 + n:02d}:00",
                str(400000 + 997 * n),
                r["group"],
                "leder" if r["role"] == "leader" else "medlem",
                *[_answer(r[i], "99") for i in items()],
                r["O1"],
                r["O2"],
                r["O3"],
            ]
        )
    text = _csv([head, *body], ";", True)
    (DATA_DIR / "nettskjema_semikolon.csv").write_bytes(text.encode("utf-8"))
    (DATA_DIR / "nettskjema_komma.csv").write_bytes(_csv([head, *body], ",", True).encode("utf-8"))
    # The same form with option values 0..6 (not 1..7) and "Vet ikke" = 9: a mapping says so.
    body0 = [
        row[:5] + [_answer(r[i], "9", lambda v: str(int(v) - 1)) for i in items()] + row[-3:]
        for row, r in zip(body, rows, strict=True)
    ]
    (DATA_DIR / "nettskjema_0-6.csv").write_bytes(_csv([head, *body0], ";", True).encode("utf-8"))
    (DATA_DIR / "nettskjema_0-6.yaml").write_text(
        "# The form's option values are 0..6 and 'Vet ikke' is 9.\n"
        "preset: nettskjema\n"
        "answers: {0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 9: null}\n",
        encoding="utf-8",
    )


def _surveyxact(
    rows: list[dict[str, str]],
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    # No respondent id; codes 1..7, 8 = "Vet ikke" (from the labels); team and rolle coded.
    head = [
        "statusinformation",
        "closetime",
        "team",
        "rolle",
        *[i.lower() for i in items()],
        "O1",
        "O2",
        "O3",
    ]
    team = {g: str(k + 1) for k, (g, _) in enumerate(GROUPS)}
    body = [
        [
            "Gennemført",
            f"05.01.2026 09:{10 + n:02d}",
            team[r["group"]],
            "1" if r["role"] == "leader" else "2",
            *[_answer(r[i], "8") for i in items()],
            r["O1"],
            r["O2"],
            r["O3"],
        ]
        for n, r in enumerate(rows)
    ]
    lab = [["team", code, group] for group, code in team.items()]
    lab += [["rolle", "1", "Leder"], ["rolle", "2", "Medlem"]]
    for i in items():
        lab += [[i.lower(), str(k + 1), text] for k, text in enumerate(labels("nb"))]
        lab += [[i.lower(), "8", "Vet ikke"]]
    structure = [
        ["variable", "type", "text"],
        ["team", "single", "Ledergruppe"],
        ["rolle", "single", "Rolle"],
    ]
    structure += [[i.lower(), "single", t] for i, t in zip(items(), item_texts("nb"), strict=True)]
    return [head, *body], lab, structure


def write_surveyxact(rows: list[dict[str, str]]) -> None:
    data, lab, structure = _surveyxact(rows)
    folder = DATA_DIR / "surveyxact_semikolon"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.csv").write_bytes(_csv(data, ";", False).encode("cp1252"))
    (folder / "labels.csv").write_bytes(_csv(lab, ";", False).encode("cp1252"))
    (folder / "structure.csv").write_bytes(_csv(structure, ";", False).encode("cp1252"))
    folder = DATA_DIR / "surveyxact_komma"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.csv").write_bytes(_csv(data, ",", False).encode("cp1252"))
    (folder / "labels.csv").write_bytes(_csv(lab, ",", False).encode("cp1252"))
    folder = DATA_DIR / "surveyxact_utf16"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.txt").write_bytes(_csv(data, "\t", False, crlf=True).encode("utf-16"))
    (folder / "labels.txt").write_bytes(_csv(lab, "\t", False, crlf=True).encode("utf-16"))
    (folder / "structure.txt").write_bytes(_csv(structure, "\t", False, crlf=True).encode("utf-16"))
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Dataset"
    for row in data:
        ws.append([int(c) if c.isdigit() and not c.startswith("0") else c for c in row])
    for title, rows_ in (("Structure", structure), ("Labels", lab)):
        sheet = wb.create_sheet(title)
        for row in rows_:
            sheet.append(row)
    wb.save(DATA_DIR / "surveyxact.xlsx")


def write_limesurvey(rows: list[dict[str, str]]) -> None:
    head = [
        "id",
        "submitdate",
        "lastpage",
        "startlanguage",
        "seed",
        "team",
        "rolle",
        *[f"LP[SQ{n:03d}]" for n in range(1, len(items()) + 1)],
        "O1",
        "O2",
        "O3",
    ]
    nb = labels("nb")
    for kind, code in (("koder", lambda v: f"A{v}"), ("tekst", lambda v: nb[int(v) - 1])):
        na = "A8" if kind == "koder" else "Vet ikke / ikke relevant"
        body = [
            [
                str(n + 1),
                f"2026-01-05 09:{10 + n:02d}:00",
                "3",
                "nb",
                str(1234567 + n),
                r["group"],
                "leder" if r["role"] == "leader" else "medlem",
                *[_answer(r[i], na, code) for i in items()],
                r["O1"],
                r["O2"],
                r["O3"],
            ]
            for n, r in enumerate(rows)
        ]
        text = _csv([head, *body], ",", True, crlf=True)
        (DATA_DIR / f"limesurvey_{kind}.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def write_msforms(rows: list[dict[str, str]]) -> None:
    from openpyxl import Workbook

    for lang, meta in (
        ("en", ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time"]),
        (
            "nb",
            [
                "ID",
                "Starttidspunkt",
                "Fullføringstidspunkt",
                "E-post",
                "Navn",
                "Tidspunkt for siste endring",
            ],
        ),
    ):
        scale = labels(lang)
        wb = Workbook()
        ws = wb.active
        ws.title = "Sheet1" if lang == "en" else "Ark1"
        ws.append([*meta, "Ledergruppe", "Rolle", *item_texts(lang), *open_texts(lang)])
        for n, r in enumerate(rows):
            ws.append(
                [
                    n + 1,
                    f"1/5/26 9:{10 + n:02d}:00",
                    f"1/5/26 9:{20 + n:02d}:00",
                    f"person{n}@example.no",
                    f"Person {n}",
                    "",
                    r["group"],
                    "Leder" if r["role"] == "leader" else "Medlem",
                    *[
                        _answer(r[i], na_label(lang), lambda v, s=scale: s[int(v) - 1])
                        for i in items()
                    ],
                    r["O1"] or None,
                    r["O2"] or None,
                    r["O3"] or None,
                ]
            )
        wb.save(DATA_DIR / f"msforms_{lang}.xlsx")


def write_enalyzer(rows: list[dict[str, str]]) -> None:
    for tool, rid in (("enalyzer", "RespondentID"), ("questback", "Respondent ID")):
        head = [rid, "Status", "Gruppe", "Rolle", *items(), "O1", "O2", "O3"]
        body = [
            [
                str(5500 + n),
                "Fullført",
                r["group"],
                "Leder" if r["role"] == "leader" else "Medlem",
                *[_answer(r[i], "8") for i in items()],
                r["O1"],
                r["O2"],
                r["O3"],
            ]
            for n, r in enumerate(rows)
        ]
        text = _csv([head, *body], ";", False, crlf=True)
        (DATA_DIR / f"{tool}.csv").write_bytes(text.encode("iso-8859-1"))
        (DATA_DIR / f"{tool}_utf8.csv").write_bytes(text.encode("utf-8"))


def write_qualtrics(rows: list[dict[str, str]]) -> None:
    meta = [
        "StartDate",
        "EndDate",
        "Status",
        "IPAddress",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "RecordedDate",
        "ResponseId",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
        "LocationLatitude",
        "LocationLongitude",
        "DistributionChannel",
        "UserLanguage",
    ]
    n_items = len(items())
    head = [*meta, "team", "rolle", *[f"LP_{n}" for n in range(1, n_items + 1)], "O1", "O2", "O3"]
    texts = [
        *meta[:8],
        "Response ID",
        "Recipient Last Name",
        "Recipient First Name",
        "Recipient Email",
        "External Data Reference",
        "Location Latitude",
        "Location Longitude",
        "Distribution Channel",
        "User Language",
        "Ledergruppe",
        "Rolle",
        *[f"Hvor enig er du? - {t}" for t in item_texts("nb")],
        *open_texts("nb"),
    ]
    import_ids = [json.dumps({"ImportId": h[0].lower() + h[1:]}) for h in meta]
    import_ids += [json.dumps({"ImportId": "QID1"}), json.dumps({"ImportId": "QID2"})]
    import_ids += [json.dumps({"ImportId": f"QID3_{n}"}) for n in range(1, n_items + 1)]
    import_ids += [json.dumps({"ImportId": f"QID{n}_TEXT"}) for n in (4, 5, 6)]
    body = []
    for n, r in enumerate(rows):
        body.append(
            [
                f"2026-01-05 09:{10 + n:02d}:00",
                f"2026-01-05 09:{20 + n:02d}:00",
                "0",
                f"10.0.0.{n + 1}",
                "100",
                "612",
                "1",
                f"2026-01-05 09:{20 + n:02d}:01",
                f"R_{'3Xy' if n % 2 else '1Ab'}{n:04d}kLmN",
                "",
                "",
                "",
                "",
                "59.91",
                "10.75",
                "anonymous",
                "NB",
                r["group"],
                "leder" if r["role"] == "leader" else "medlem",
                *[_answer(r[i], "8") for i in items()],
                r["O1"],
                r["O2"],
                r["O3"],
            ]
        )
    text = _csv([head, texts, import_ids, *body], ",", True)
    (DATA_DIR / "qualtrics.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    # "Export as TSV": tab-separated UTF-16 (little-endian, with a byte-order mark).
    tsv = _csv([head, texts, import_ids, *body], "\t", False, crlf=True)
    (DATA_DIR / "qualtrics.tsv").write_bytes(tsv.encode("utf-16"))


def write_all() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    rows = canonical()
    write_canonical(rows)
    write_nettskjema(rows)
    write_surveyxact(rows)
    write_limesurvey(rows)
    write_msforms(rows)
    write_enalyzer(rows)
    write_qualtrics(rows)


if __name__ == "__main__":
    write_all()
