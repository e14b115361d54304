//! `files`: many large uploads at once, then as many downloads, and what they cost the server in memory.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use parley_client::proto::v1::{CreateUploadRequest, SendMessageRequest, UploadPart};
use parley_client::{DeleteFor, Error as ClientError};
use parley_proto::{ConversationId, FileId, MessageId};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::procfs::{Probe, Sample};
use crate::report::{Latencies, Percentiles, Progress, Report};
use crate::{Bench, Error, Result, User, setup};

/// Large files: C clients each upload a file of M MiB at once, then their partners download them.
///
/// CLIENTS users each upload one file of MEGABYTES MiB at the same time, as a client does: ask for the
/// upload, send its parts where the server says (PUTs to the server on its local store, every part but the
/// last 32 MiB; form POSTs straight to the object store on S3), then complete it and compare the SHA-256 the
/// server reports with that of the bytes sent. Each then attaches its file to a message in a DM (not
/// measured), and the other member of the DM downloads it, all at once, following the redirect to the object
/// store on S3, checking every byte against what was sent without keeping any. The bench generates the bytes
/// as it sends them, 256 KiB at a time, so it holds no file whole either; the messages are deleted for
/// everyone at the end, which deletes the files.
///
/// Reported for each direction: throughput over every client (MiB/s, from the phase's start to the last
/// completion), each client's time, and the server's RSS before the phase and at its peak (sampled every
/// 100 ms with --server-pid), which is the point: the server streams files and must never hold one whole.
/// Any failed or corrupted transfer is counted in `errors`.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Files {
    /// Users uploading at once (as many again download).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Size of each file in MiB (the server takes at most 100 by default: `max_file_bytes`).
    #[arg(long, default_value_t = 40)]
    pub megabytes: u64,
    /// DMs created and messages sent or deleted at once, outside the measured phases.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
}

const MIB: u64 = 1024 * 1024;
/// How the bench generates and sends a file: a body is a stream of chunks this size.
const CHUNK: u64 = 256 * 1024;
/// How often the server's RSS is read during a phase.
const RSS_EVERY: Duration = Duration::from_millis(100);
/// Failures shown on stderr after a run (all are counted).
const FAILURES_SHOWN: usize = 5;

pub async fn run(bench: &mut Bench, args: &Files) -> Result<Report> {
    if args.clients == 0 || args.megabytes == 0 {
        return Err(Error::Scenario(
            "files needs at least one client and one MiB".into(),
        ));
    }
    let size = args.megabytes * MIB;
    let concurrency = args.setup_concurrency.max(1);
    let users = bench.users(args.clients * 2).await?;
    let (uploaders, downloaders) = users.split_at(args.clients);
    let pairs: Vec<_> = uploaders.iter().zip(downloaders).collect();
    let dms = setup::bounded(pairs, concurrency, |(a, b)| setup::dm(a, b)).await?;
    let http = transfer_client()?;
    let block: Arc<[u8]> = filler_block().into();
    let contents: Vec<Content> = (0..args.clients as u64)
        .map(|index| Content {
            block: Arc::clone(&block),
            tag: bench.run_id ^ index,
            size,
        })
        .collect();
    // The hashes of what will be sent, before the clock starts: hashing is the bench's CPU, not the server's.
    let expected = expected_hashes(&contents).await?;
    let mut failures = Failures::default();

    let phase = Phase::start(bench, "upload", args.clients as u64 * size)?;
    let complete_times = Latencies::new();
    let uploads = phase
        .run_all(
            Failure::Upload,
            uploaders
                .iter()
                .zip(&contents)
                .enumerate()
                .map(|(index, (user, content))| {
                    let upload = Upload {
                        http: http.clone(),
                        user: user.clone(),
                        content: content.clone(),
                        name: format!("bench-{:x}-{index}.bin", bench.run_id),
                        sent: phase.counter(),
                    };
                    upload.run(complete_times.clone())
                }),
        )
        .await;
    let upload = phase.finish().await?;
    let mut uploaded = Vec::new();
    for (index, (outcome, expected)) in uploads.into_iter().zip(&expected).enumerate() {
        match outcome {
            Err(failed) => failures.note(failed, index),
            Ok(done) if done.sha256 != *expected || done.size != size => {
                failures.note(
                    Failed {
                        kind: Failure::Sha256,
                        message: format!(
                            "the server reports {} bytes with SHA-256 {}; sent {size} with {expected}",
                            done.size, done.sha256
                        ),
                    },
                    index,
                );
                // On no message: the upload would wait a day for the collector.
                let _ = uploaders[index].client.cancel_upload(done.id).await;
            }
            Ok(done) => uploaded.push((index, done.id)),
        }
    }
    let uploaded_bytes = uploaded.len() as u64 * size;

    // Each file goes on a message of its DM, so that the other member may read it.
    let attached = stream::iter(uploaded)
        .map(|(index, file)| {
            let (uploader, dm) = (&uploaders[index], dms[index]);
            async move { (index, file, attach(uploader, dm, file).await) }
        })
        .buffered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut on_messages = Vec::new();
    for (index, file, result) in attached {
        match result {
            Ok(message) => on_messages.push((index, file, message)),
            Err(error) => {
                let message = error.to_string();
                failures.note(
                    Failed {
                        kind: Failure::Attach,
                        message,
                    },
                    index,
                );
                let _ = uploaders[index].client.cancel_upload(file).await;
            }
        }
    }

    let phase = Phase::start(bench, "download", on_messages.len() as u64 * size)?;
    let redirects = Arc::new(AtomicU64::new(0));
    let downloads = phase
        .run_all(
            Failure::Download,
            on_messages.iter().map(|&(index, file, _)| {
                let download = Download {
                    http: http.clone(),
                    user: downloaders[index].clone(),
                    file,
                    content: contents[index].clone(),
                    received: phase.counter(),
                    redirects: Arc::clone(&redirects),
                };
                download.run()
            }),
        )
        .await;
    let download = phase.finish().await?;
    let mut downloaded = 0u64;
    for (outcome, &(index, _, _)) in downloads.into_iter().zip(&on_messages) {
        match outcome {
            Ok(()) => downloaded += 1,
            Err(failed) => failures.note(failed, index),
        }
    }

    // Deleting the messages for everyone deletes their files, so repeated runs do not fill the disk.
    let cleanup_failures = stream::iter(on_messages)
        .map(|(index, _, message)| {
            let (uploader, dm) = (&uploaders[index], dms[index]);
            async move {
                let deleted = uploader
                    .client
                    .delete_message(dm, message, DeleteFor::Everyone);
                deleted.await.is_err()
            }
        })
        .buffered(concurrency)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    failures.show();

    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    let mut report = Report::new("files", bench.run_id, super::params(args));
    report.seconds = upload.seconds;
    report.unit = "MiB";
    report.achieved_per_second = mib(uploaded_bytes) / upload.seconds.max(1e-9);
    report.sent = uploaded_bytes / size;
    report.errors = failures.total();
    report.latency = upload.times;
    report.server = Probe::usage(upload.before, upload.after);
    let extra = &mut report.extra;
    extra.insert("upload_failures", failures.upload as f64);
    extra.insert("upload_sha256_mismatches", failures.sha256 as f64);
    extra.insert("attach_failures", failures.attach as f64);
    insert_percentiles(
        extra,
        ["complete_p50_ms", "complete_p99_ms", "complete_max_ms"],
        complete_times.percentiles(),
    );
    upload.insert_rss(
        extra,
        [
            "upload_rss_before_mib",
            "upload_rss_peak_mib",
            "upload_rss_growth_mib",
        ],
    );
    extra.insert("download_seconds", download.seconds);
    extra.insert(
        "download_mib_per_second",
        mib(downloaded * size) / download.seconds.max(1e-9),
    );
    extra.insert("downloads_verified", downloaded as f64);
    extra.insert("download_failures", failures.download as f64);
    extra.insert("download_mismatches", failures.corrupt as f64);
    extra.insert(
        "download_redirects",
        redirects.load(Ordering::Relaxed) as f64,
    );
    insert_percentiles(
        extra,
        ["download_p50_ms", "download_p99_ms", "download_max_ms"],
        download.times,
    );
    download.insert_rss(
        extra,
        [
            "download_rss_before_mib",
            "download_rss_peak_mib",
            "download_rss_growth_mib",
        ],
    );
    if let Some(usage) = Probe::usage(download.before, download.after) {
        extra.insert(
            "download_server_cpu_seconds",
            usage.cpu_seconds.unwrap_or(0.0),
        );
    }
    extra.insert("cleanup_failures", cleanup_failures as f64);
    Ok(report)
}

/// A measured phase: every client's transfer at once, its clock, the server's readings around it and its
/// peak RSS, and a progress line.
struct Phase {
    probe: Probe,
    progress: Progress,
    watch: RssWatch,
    before: Option<Sample>,
    times: Latencies,
    start: Instant,
}

/// What a phase measured.
struct Measured {
    seconds: f64,
    /// Each successful transfer's time from the phase's start.
    times: Option<Percentiles>,
    before: Option<Sample>,
    after: Option<Sample>,
    peak_kib: Option<u64>,
}

impl Phase {
    fn start(bench: &Bench, label: &str, total_bytes: u64) -> Result<Phase> {
        let progress = Progress::start(bench.output, label, "KiB", Some(total_bytes / 1024));
        let watch = RssWatch::start(bench.probe.clone());
        Ok(Phase {
            probe: bench.probe.clone(),
            progress,
            watch,
            before: bench.probe.sample()?,
            times: Latencies::new(),
            start: Instant::now(),
        })
    }

    /// Counts KiB sent or received for the progress line.
    fn counter(&self) -> Arc<AtomicU64> {
        self.progress.counter()
    }

    /// Runs every transfer at once, each in its own task; a task that panicked counts as `on_panic`.
    async fn run_all<T, F>(
        &self,
        on_panic: Failure,
        transfers: impl Iterator<Item = F>,
    ) -> Vec<std::result::Result<T, Failed>>
    where
        T: Send + 'static,
        F: Future<Output = std::result::Result<T, Failed>> + Send + 'static,
    {
        let tasks: Vec<_> = transfers
            .map(|transfer| {
                let (times, start) = (self.times.clone(), self.start);
                tokio::spawn(async move {
                    let outcome = transfer.await;
                    if outcome.is_ok() {
                        times.record(start.elapsed());
                    }
                    outcome
                })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await.unwrap_or_else(|error| {
                Err(Failed {
                    kind: on_panic,
                    message: format!("its task failed: {error}"),
                })
            }));
        }
        outcomes
    }

    async fn finish(self) -> Result<Measured> {
        let seconds = self.start.elapsed().as_secs_f64();
        let after = self.probe.sample()?;
        let peak_kib = self.watch.stop().await;
        self.progress.finish();
        Ok(Measured {
            seconds,
            times: self.times.percentiles(),
            before: self.before,
            after,
            peak_kib,
        })
    }
}

impl Measured {
    /// The server's RSS before the phase and at its peak, and the growth between, in MiB, under
    /// `[before, peak, growth]`.
    fn insert_rss(&self, extra: &mut BTreeMap<&'static str, f64>, names: [&'static str; 3]) {
        let (Some(before), Some(peak_kib)) = (self.before, self.peak_kib) else {
            return;
        };
        let peak_kib = peak_kib.max(before.rss_kib);
        let mib = |kib: u64| kib as f64 / 1024.0;
        extra.insert(names[0], mib(before.rss_kib));
        extra.insert(names[1], mib(peak_kib));
        extra.insert(names[2], mib(peak_kib - before.rss_kib));
    }
}

/// The HTTP client for the bytes: the SDK reads a body whole, which would hold 100 MiB per client here.
/// Redirects are followed by hand, so the bearer token never goes to the object store.
fn transfer_client() -> Result<reqwest::Client> {
    parley_client::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| Error::Client(ClientError::Transport(error)))
}

/// What one client's file holds: a pseudo-random block repeated, each `CHUNK` of it stamped with the run,
/// the client and the chunk's number, so that no two chunks of a run are alike and a part sent out of place
/// or to the wrong upload shows. Any byte of it can be made or checked on its own, so nothing is kept.
#[derive(Clone)]
pub struct Content {
    /// `CHUNK` bytes.
    pub block: Arc<[u8]>,
    /// Different for every file of a run.
    pub tag: u64,
    pub size: u64,
}

/// Each chunk starts with a stamp: these two bytes (so that the server never takes a file for a picture and
/// makes a preview), the content's tag (8 bytes) and the chunk's number (6).
const STAMP_PREFIX: &[u8; 2] = b"pb";
const STAMP: usize = 16;

/// `CHUNK` bytes of xorshift output: the same in every run, unlike any file format.
pub fn filler_block() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..CHUNK / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

impl Content {
    fn stamp(&self, chunk: u64) -> [u8; STAMP] {
        let mut stamp = [0u8; STAMP];
        stamp[..2].copy_from_slice(STAMP_PREFIX);
        stamp[2..10].copy_from_slice(&self.tag.to_le_bytes());
        stamp[10..].copy_from_slice(&chunk.to_le_bytes()[..6]);
        stamp
    }

    /// The pieces of `range` split where chunks begin: (offset, length).
    fn pieces(&self, range: Range<u64>) -> impl Iterator<Item = (u64, usize)> + use<> {
        let end = range.end.min(self.size);
        let mut at = range.start;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let len = (CHUNK - at % CHUNK).min(end - at);
            let piece = (at, len as usize);
            at += len;
            Some(piece)
        })
    }

    /// `len` bytes from `at`, within one chunk.
    fn piece(&self, at: u64, len: usize) -> Vec<u8> {
        let within = (at % CHUNK) as usize;
        let mut bytes = self.block[within..within + len].to_vec();
        let stamp = self.stamp(at / CHUNK);
        let stamp = stamp.get(within..).unwrap_or_default();
        let stamped = stamp.len().min(len);
        bytes[..stamped].copy_from_slice(&stamp[..stamped]);
        bytes
    }

    /// The bytes of `range`, made as the stream is read.
    fn stream(
        &self,
        range: Range<u64>,
        sent: Arc<AtomicU64>,
    ) -> impl futures_util::Stream<Item = std::result::Result<Vec<u8>, Infallible>> + use<> {
        let content = self.clone();
        stream::iter(self.pieces(range)).map(move |(at, len)| {
            sent.fetch_add(len as u64 / 1024, Ordering::Relaxed);
            Ok(content.piece(at, len))
        })
    }

    /// The whole file's bytes, piece by piece.
    pub fn bytes(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.pieces(0..self.size)
            .map(|(at, len)| self.piece(at, len))
    }

    /// Whether `data` is what the file holds from `offset` on.
    pub fn matches(&self, offset: u64, data: &[u8]) -> bool {
        if offset.saturating_add(data.len() as u64) > self.size {
            return false;
        }
        let mut rest = data;
        for (at, len) in self.pieces(offset..offset + data.len() as u64) {
            let (here, next) = rest.split_at(len);
            let within = (at % CHUNK) as usize;
            let stamp = self.stamp(at / CHUNK);
            let stamp = stamp.get(within..).unwrap_or_default();
            let stamped = stamp.len().min(len);
            if here[..stamped] != stamp[..stamped]
                || here[stamped..] != self.block[within + stamped..within + len]
            {
                return false;
            }
            rest = next;
        }
        true
    }

    /// Hex SHA-256 of the whole file, as the server reports it.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for piece in self.bytes() {
            hasher.update(&piece);
        }
        hex(&hasher.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file's SHA-256, hashed on the blocking threads, several at once.
async fn expected_hashes(contents: &[Content]) -> Result<Vec<String>> {
    let tasks: Vec<_> = contents
        .iter()
        .cloned()
        .map(|content| tokio::task::spawn_blocking(move || content.sha256()))
        .collect();
    let mut hashes = Vec::with_capacity(tasks.len());
    for task in tasks {
        hashes.push(
            task.await
                .map_err(|error| Error::Scenario(format!("hashing: {error}")))?,
        );
    }
    Ok(hashes)
}

/// A complete upload as the server reported it.
struct Uploaded {
    id: FileId,
    size: u64,
    sha256: String,
}

/// One client's upload: create, every part in turn, complete.
struct Upload {
    http: reqwest::Client,
    user: User,
    content: Content,
    name: String,
    sent: Arc<AtomicU64>,
}

impl Upload {
    async fn run(self, complete_times: Latencies) -> std::result::Result<Uploaded, Failed> {
        let failed = |message: String| Failed {
            kind: Failure::Upload,
            message,
        };
        let request = CreateUploadRequest {
            name: self.name.clone(),
            size: self.content.size,
            content_type: Some("application/octet-stream".to_owned()),
        };
        let upload = self
            .user
            .client
            .create_upload(&request)
            .await
            .map_err(|error| failed(format!("create: {error}")))?;
        let mut parts = upload.parts.clone();
        parts.sort_by_key(|part| part.number);
        let mut offset = 0;
        for part in &parts {
            let range = offset..offset + part.size;
            self.part(part, range).await.map_err(|error| {
                failed(format!("part {} of {}: {error}", part.number, parts.len()))
            })?;
            offset += part.size;
        }
        let started = Instant::now();
        let complete = self
            .user
            .client
            .complete_upload(upload.id)
            .await
            .map_err(|error| failed(format!("complete: {error}")))?;
        complete_times.record(started.elapsed());
        Ok(Uploaded {
            id: complete.id,
            size: complete.size,
            sha256: complete.sha256.unwrap_or_default(),
        })
    }

    /// Streams one part: the body of a `PUT` to the server, or the file of a form `POST` to the store.
    async fn part(&self, part: &UploadPart, range: Range<u64>) -> std::result::Result<(), String> {
        let length = range.end - range.start;
        let bytes = self.content.stream(range, Arc::clone(&self.sent));
        let request = match part.method.as_str() {
            "PUT" => {
                let url = self
                    .user
                    .client
                    .base_url()
                    .join(&part.url)
                    .map_err(|error| error.to_string())?;
                let request = self
                    .http
                    .put(url)
                    .header(reqwest::header::CONTENT_LENGTH, length)
                    .body(reqwest::Body::wrap_stream(bytes));
                match self.user.client.token() {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            }
            _ => {
                let form = Form::new(part, self.content.tag);
                let length = form.head.len() as u64 + length + form.tail.len() as u64;
                let body = stream::once(std::future::ready(Ok(form.head.into_bytes())))
                    .chain(bytes)
                    .chain(stream::once(std::future::ready(Ok(form.tail.into_bytes()))));
                self.http
                    .post(&part.url)
                    .header(reqwest::header::CONTENT_TYPE, form.content_type)
                    .header(reqwest::header::CONTENT_LENGTH, length)
                    .body(reqwest::Body::wrap_stream(body))
            }
        };
        let response = request.send().await.map_err(|error| chain(&error))?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(refusal(response).await)
    }
}

/// The framing of a `multipart/form-data` body around the file's bytes: the fields, then the file, last
/// (as S3's POST policy wants it), as a browser posts a form.
struct Form {
    content_type: String,
    head: String,
    tail: String,
}

impl Form {
    fn new(part: &UploadPart, tag: u64) -> Self {
        // The file is pseudo-random bytes: this text turning up in it is as good as impossible.
        let boundary = format!("parley-bench-{tag:016x}-{}", part.number);
        let mut head = String::new();
        for (name, value) in &part.fields {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        Form {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            head,
            tail: format!("\r\n--{boundary}--\r\n"),
        }
    }
}

/// Puts the file on a message of the DM; answers the message.
async fn attach(
    uploader: &User,
    dm: ConversationId,
    file: FileId,
) -> parley_client::Result<MessageId> {
    let draft = SendMessageRequest {
        text: String::new(),
        nonce: None,
        mentions: None,
        thread_root_id: None,
        also_to_conversation: None,
        quote: None,
        attachments: vec![file],
    };
    Ok(uploader
        .client
        .send_draft(dm, &draft)
        .await?
        .value
        .message
        .id)
}

/// One client's download of its partner's file.
struct Download {
    http: reqwest::Client,
    user: User,
    file: FileId,
    content: Content,
    received: Arc<AtomicU64>,
    redirects: Arc<AtomicU64>,
}

impl Download {
    async fn run(self) -> std::result::Result<(), Failed> {
        let broken = |message: String| Failed {
            kind: Failure::Download,
            message,
        };
        let url = self
            .user
            .client
            .url(&["v1", "files", &self.file.to_string()]);
        let mut request = self.http.get(url.clone());
        if let Some(token) = self.user.client.token() {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| broken(chain(&e)))?;
        if response.status().is_redirection() {
            // The object store's presigned URL: no token, which is for the server only.
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| broken("a redirect without a Location".to_owned()))?;
            let target = url.join(location).map_err(|e| broken(e.to_string()))?;
            self.redirects.fetch_add(1, Ordering::Relaxed);
            response = self
                .http
                .get(target)
                .send()
                .await
                .map_err(|e| broken(chain(&e)))?;
        }
        if !response.status().is_success() {
            return Err(broken(refusal(response).await));
        }
        let mut offset = 0u64;
        let mut first_wrong = None;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(error) => {
                    return Err(broken(format!("after {offset} bytes: {}", chain(&error))));
                }
            };
            if first_wrong.is_none() && !self.content.matches(offset, &chunk) {
                first_wrong = Some(offset);
            }
            offset += chunk.len() as u64;
            self.received
                .fetch_add(chunk.len() as u64 / 1024, Ordering::Relaxed);
        }
        if offset != self.content.size {
            return Err(broken(format!("{offset} bytes of {}", self.content.size)));
        }
        if let Some(at) = first_wrong {
            return Err(Failed {
                kind: Failure::Corrupt,
                message: format!("the bytes differ from those sent, from the chunk at {at} on"),
            });
        }
        Ok(())
    }
}

/// An error with its causes, which say what actually went wrong (`request failed` alone does not).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// An answer that is not a success, with the start of its body.
async fn refusal(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    format!("{status}: {}", body.chars().take(300).collect::<String>())
}

/// The server's peak RSS over a phase, read every `RSS_EVERY` by a task of its own.
struct RssWatch {
    peak_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    fn start(probe: Probe) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let peak = Arc::clone(&peak_kib);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RSS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Without a pid there is nothing to read; a server gone is seen by the run's last sample.
                let Ok(Some(sample)) = probe.sample() else {
                    return;
                };
                peak.fetch_max(sample.rss_kib, Ordering::Relaxed);
            }
        });
        RssWatch { peak_kib, task }
    }

    /// The peak in KiB, if anything was read.
    async fn stop(self) -> Option<u64> {
        self.task.abort();
        let _ = self.task.await;
        Some(self.peak_kib.load(Ordering::Relaxed)).filter(|&kib| kib > 0)
    }
}

/// The median, 99th percentile and slowest, in milliseconds, under `[p50, p99, max]`.
fn insert_percentiles(
    extra: &mut BTreeMap<&'static str, f64>,
    names: [&'static str; 3],
    percentiles: Option<Percentiles>,
) {
    let Some(p) = percentiles else {
        return;
    };
    extra.insert(names[0], p.p50_ms);
    extra.insert(names[1], p.p99_ms);
    extra.insert(names[2], p.max_ms);
}

/// What went wrong with one client's file.
struct Failed {
    kind: Failure,
    message: String,
}

#[derive(Clone, Copy)]
enum Failure {
    /// An upload that did not complete.
    Upload,
    /// A complete upload whose size or SHA-256 is not that of the bytes sent.
    Sha256,
    /// A complete upload that could not be put on a message.
    Attach,
    /// A download that failed or came short.
    Download,
    /// A download of bytes that were not sent.
    Corrupt,
}

/// What went wrong, counted by kind, and the messages.
#[derive(Default)]
struct Failures {
    upload: u64,
    sha256: u64,
    attach: u64,
    download: u64,
    corrupt: u64,
    messages: Vec<String>,
}

impl Failures {
    fn note(&mut self, Failed { kind, message }: Failed, index: usize) {
        let (count, what) = match kind {
            Failure::Upload => (&mut self.upload, "upload"),
            Failure::Sha256 => (&mut self.sha256, "upload"),
            Failure::Attach => (&mut self.attach, "attach"),
            Failure::Download => (&mut self.download, "download"),
            Failure::Corrupt => (&mut self.corrupt, "download"),
        };
        *count += 1;
        self.messages
            .push(format!("{what} of client {index}'s file: {message}"));
    }

    fn total(&self) -> u64 {
        self.upload + self.sha256 + self.attach + self.download + self.corrupt
    }

    /// The run says why it failed, on stderr beside the progress lines.
    fn show(&self) {
        for message in self.messages.iter().take(FAILURES_SHOWN) {
            eprintln!("files: {message}");
        }
        if self.messages.len() > FAILURES_SHOWN {
            eprintln!("files: and {} more", self.messages.len() - FAILURES_SHOWN);
        }
    }
}
