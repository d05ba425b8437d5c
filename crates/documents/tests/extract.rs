//! Every kind of document read from real files: a PDF written here byte by byte (two pages,
//! lines broken mid-sentence and a hyphenated word), a Word document written with docx-rs
//! (headings, a list, a table), HTML and Markdown; and the failures: an unknown extension, a
//! misnamed or damaged file, text that is not UTF-8, a document with no text.

use docx_rs::{Docx, IndentLevel, NumberingId, Paragraph, Run, Table, TableCell, TableRow};
use tc_documents::{DocumentError, Kind, extract};

/// A valid PDF whose pages show `pages` (each a list of lines) in Helvetica.
fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let font = 3 + 2 * pages.len();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 3 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()));
    for (i, lines) in pages.iter().enumerate() {
        let mut stream = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
        for line in *lines {
            stream.push_str(&format!("({line}) Tj T*\n"));
        }
        stream.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
             /Resources << /Font << /F1 {font} 0 R >> >> >>",
            4 + 2 * i
        ));
        objects.push(format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()));
    }
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{object}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

#[test]
fn a_pdf_gives_the_text_of_every_page_with_lines_joined() {
    let bytes = pdf(&[
        &["Release policy. Production deploys happen", "on Tuesdays after the re-", "view."],
        &["Hotfixes ship any day with two approvals."],
    ]);
    let out = extract("Release Policy.PDF", &bytes).unwrap();
    assert_eq!(out.kind, Kind::Pdf);
    assert!(
        out.markdown.contains("Production deploys happen on Tuesdays after the review."),
        "{:?}",
        out.markdown
    );
    assert!(
        out.markdown.contains("Hotfixes ship any day with two approvals."),
        "{:?}",
        out.markdown
    );
}

#[test]
fn a_word_document_keeps_headings_lists_and_tables() {
    let docx = Docx::new()
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("On-call")).style("Heading1"))
        .add_paragraph(
            Paragraph::new().add_run(Run::new().add_text("The pager rotates every Monday.")),
        )
        .add_paragraph(
            Paragraph::new()
                .add_run(Run::new().add_text("Escalate to the platform lead"))
                .numbering(NumberingId::new(1), IndentLevel::new(0)),
        )
        .add_table(Table::new(vec![TableRow::new(vec![
            TableCell::new().add_paragraph(Paragraph::new().add_run(Run::new().add_text("Week"))),
            TableCell::new().add_paragraph(Paragraph::new().add_run(Run::new().add_text("Ana"))),
        ])]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    docx.build().pack(&mut bytes).unwrap();
    let out = extract("oncall.docx", bytes.get_ref()).unwrap();
    assert_eq!(out.kind, Kind::Docx);
    assert_eq!(
        out.markdown,
        "# On-call\n\nThe pager rotates every Monday.\n\n- Escalate to the platform lead\n| Week | Ana |"
    );
}

#[test]
fn html_becomes_markdown_and_text_stays_text() {
    let html = "<html><head><title>x</title></head><body><h2>Webhooks</h2>\
                <p>Rotate the <b>signing secret</b> yearly.</p></body></html>";
    let out = extract("hooks.html", html.as_bytes()).unwrap();
    assert_eq!(out.kind, Kind::Html);
    assert!(out.markdown.contains("## Webhooks"), "{:?}", out.markdown);
    assert!(out.markdown.contains("Rotate the **signing secret** yearly."), "{:?}", out.markdown);
    let md = extract("notes.md", "\u{feff}# Notes\n\nKeep it.\n".as_bytes()).unwrap();
    assert_eq!((md.kind, md.markdown.as_str()), (Kind::Markdown, "# Notes\n\nKeep it."));
    let txt = extract("todo.TXT", b"  buy milk  ").unwrap();
    assert_eq!((txt.kind, txt.markdown.as_str()), (Kind::Text, "buy milk"));
}

#[test]
fn bad_documents_fail_with_a_reason() {
    let unsupported = extract("photo.png", b"\x89PNG").unwrap_err();
    assert!(matches!(unsupported, DocumentError::Unsupported(_)));
    assert!(unsupported.to_string().contains("upload PDF (.pdf), Word (.docx)"));
    assert!(matches!(extract("README", b"text"), Err(DocumentError::Unsupported(_))));
    assert!(matches!(extract("a.pdf", b"hello"), Err(DocumentError::Invalid(_, "pdf", _))));
    let truncated = &pdf(&[&["cut short"]])[..60];
    assert!(matches!(extract("a.pdf", truncated), Err(DocumentError::Invalid(_, "pdf", _))));
    assert!(matches!(
        extract("a.docx", b"PK\x03\x04junk"),
        Err(DocumentError::Invalid(_, "docx", _))
    ));
    assert!(matches!(extract("a.docx", b"plain"), Err(DocumentError::Invalid(_, "docx", _))));
    assert!(matches!(extract("a.txt", b"\xff\xfe\x00"), Err(DocumentError::Invalid(_, "text", _))));
    assert!(matches!(extract("a.md", b"  \n\t "), Err(DocumentError::Empty(_))));
    assert!(matches!(extract("blank.pdf", &pdf(&[&[]])), Err(DocumentError::Empty(_))));
}
