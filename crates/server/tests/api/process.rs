//! The real `parley` binary as a child process, for tests of what only a process can show: flags and
//! files, signals, `kill -9`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The real binary, with its log lines on stdout as JSON.
pub(crate) struct Process {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Process {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> (Self, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
        command.args(args).arg("--log-json");
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command)
    }

    /// Runs `command`, which starts the binary with `--log-json`, and waits until it listens.
    pub(crate) fn spawn(command: Command) -> (Self, String) {
        let mut process = Self::launch(command);
        let url = process.listening();
        (process, url)
    }

    /// Runs `command`, which starts the binary with `--log-json`.
    pub(crate) fn launch(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start parley");
        let stdout = child.stdout.take().expect("stdout");
        Process {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Waits until the server listens, and returns its URL.
    pub(crate) fn listening(&mut self) -> String {
        let line = self.wait_for("parley listening");
        let log: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        let address = log["fields"]["address"]
            .as_str()
            .expect("address field")
            .to_owned();
        format!("http://{address}")
    }

    /// Reads log lines until one contains `text`, and returns it.
    pub(crate) fn wait_for(&mut self, text: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.expect("log line");
            if line.contains(text) {
                return line;
            }
        }
        panic!("the server never logged {text:?}");
    }

    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        self.wait_for("stopped cleanly");
        self.child.wait().expect("exit status")
    }
}

impl Process {
    /// Kills the process at once (SIGKILL), as a crash or a power cut would, and waits for it to be gone.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}
