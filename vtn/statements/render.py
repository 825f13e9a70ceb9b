"""Statement files: CSV (gb_profile.statements.statement_csv) and XLSX (openpyxl, the `server` extra)."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

from gb_profile.statements import rows


def file_name(document: dict[str, Any], suffix: str) -> str:
    base = f"statement-{document.get('fsp')}-{document.get('month')}-v{document.get('version')}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", base) + "." + suffix


def statement_xlsx(document: dict[str, Any]) -> bytes:
    """One sheet: a heading block, then the lines (amounts as numbers with a £ format, exact to the penny) and
    the total; the same columns as the CSV."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = f"Statement {document.get('month')}"[:31]
    heading = [
        ("FSP", document.get("fsp")), ("Month", document.get("month")),
        ("Period (London)", f"{document.get('periodStartLondon')} to {document.get('periodEndLondon')}"),
        ("Version", document.get("version")), ("Status", document.get("status")),
        ("Issued (London)", document.get("issuedAtLondon")), ("Statement id", document.get("id")),
    ]
    for label, value in heading:
        sheet.append([label, value])
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append([])
    amount_column = None
    for index, row in enumerate(rows(document)):
        if index == 0:
            amount_column = row.index("amount_gbp") + 1
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
            continue
        sheet.append(row)
        cell = sheet.cell(row=sheet.max_row, column=amount_column or 1)
        if isinstance(cell.value, str) and cell.value:
            cell.value = Decimal(cell.value)
            cell.number_format = '"£"#,##0.00;-"£"#,##0.00'
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
