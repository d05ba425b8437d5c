//! Archives for scan tests and their upload: a `.tar.gz` of given files, a project of generated
//! Python modules, and the multipart upload of an archive to a project's `/scan`.

use reqwest::multipart::{Form, Part};

use super::{Resp, TestApp};

/// A .tar.gz of `files`, plus symbolic links `(path, target)`.
pub fn tar_gz(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, *bytes).unwrap();
    }
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, path, target).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A .tar.gz of `files` Python modules `app/module_NN.py` of twelve small handlers each (a few
/// chunks per file at `chunk_size` 200); `tag` keeps two projects' functions apart.
pub fn python_modules(files: usize, tag: &str) -> Vec<u8> {
    let modules: Vec<(String, String)> = (0..files)
        .map(|i| {
            let body = (0..12)
                .map(|f| format!("def {tag}_handler_{i}_{f}(request):\n    \"\"\"Handle request kind {f} of module {i}.\"\"\"\n    return respond(request, status={f}, module={i})\n\n\n"))
                .collect();
            (format!("app/module_{i:02}.py"), body)
        })
        .collect();
    let entries: Vec<(&str, &[u8])> =
        modules.iter().map(|(path, body)| (path.as_str(), body.as_bytes())).collect();
    tar_gz(&entries, &[])
}

/// The form of an archive upload, chunked at `chunk_size` characters if given.
pub fn archive_form(name: &str, bytes: Vec<u8>, chunk_size: Option<u32>) -> Form {
    let form = Form::new().part("archive", Part::bytes(bytes).file_name(name.to_string()));
    match chunk_size {
        Some(size) => form.text("chunk_size", size.to_string()),
        None => form,
    }
}

impl TestApp {
    /// Posts a multipart scan request to `project`.
    pub async fn scan_form(&self, key: &str, project: &str, form: Form) -> Resp {
        let resp = self
            .client
            .post(self.url(&format!("/projects/{project}/scan")))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        TestApp::read(resp).await
    }

    /// Uploads an archive for scanning; the accepted job's id.
    pub async fn scan_archive(&self, key: &str, project: &str, form: Form) -> String {
        let r = self.scan_form(key, project, form).await;
        r.assert_status(202)["job_id"].as_str().unwrap().to_string()
    }
}
