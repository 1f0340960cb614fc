//! A small client of Assuan, the line protocol gpg-agent speaks on its Unix socket: send a
//! command line, answer `INQUIRE`s with `D` lines and `END`, collect `D` data and `S` status
//! lines until `OK` or `ERR`. Only what eyaml-gpg needs; no Sequoia here.
//!
//! A server is not trusted to behave: every reply must arrive within a deadline (a server
//! that accepts and never answers fails with [`Failure::Timeout`] naming the socket), a line
//! longer than the protocol's 1000 bytes is refused instead of buffered, and a reply's data is
//! capped ([`MAX_REPLY_DATA`]), so a server flooding bytes cannot exhaust memory.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Assuan lines are limited to 1000 bytes including the newline; stay well below.
const MAX_DATA_LINE: usize = 900;

/// The longest line accepted from the server, without its line end: the Assuan limit of 1000
/// bytes (libassuan's `ASSUAN_LINELENGTH` adds room for CR LF).
pub const MAX_LINE: usize = 1000;

/// The most data one reply may carry: far above the largest answer eyaml-gpg asks for (an
/// exported RSA-4096 key is under 4 KiB).
pub const MAX_REPLY_DATA: usize = 1 << 20;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The socket failed.
    Io(std::io::Error),
    /// The agent answered `ERR <code> <text>`.
    Agent {
        /// The libgpg-error code (the low 16 bits of the number on the line).
        code: u32,
        /// The agent's description.
        text: String,
    },
    /// The agent said something this client does not understand, or too much.
    Protocol(String),
    /// No complete reply within the deadline.
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The deadline that passed.
        after: Duration,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Agent { code, text } => write!(f, "{text} (error {code})"),
            Failure::Protocol(m) => write!(f, "protocol error: {m}"),
            Failure::Timeout { socket, after } => write!(
                f,
                "no answer from {} within {} s (EYAML_GPG_AGENT_TIMEOUT sets the limit)",
                socket.display(),
                after.as_secs_f64()
            ),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

/// What a successful command returned.
#[derive(Default)]
pub struct Response {
    /// The concatenated, unescaped `D` data (zeroed when dropped: it may be key material).
    pub data: Zeroizing<Vec<u8>>,
    /// `S` status lines: keyword and the rest of the line.
    pub status: Vec<(String, String)>,
}

/// One connection to an Assuan server.
pub struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    socket: PathBuf,
    /// How long a reply may take (see [`Connection::set_timeout`]).
    timeout: Duration,
}

impl Connection {
    /// Connects to the socket at `path` and reads the server's greeting, which must arrive
    /// within `timeout` (as must every later reply, unless changed).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Connection, Failure> {
        Connection::over(UnixStream::connect(path)?, path, timeout)
    }

    /// Starts a connection on a stream that is already connected to the socket at `path`.
    pub(crate) fn over(
        stream: UnixStream,
        path: &Path,
        timeout: Duration,
    ) -> Result<Connection, Failure> {
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        let mut conn = Connection {
            reader: BufReader::new(stream),
            writer,
            socket: path.to_path_buf(),
            timeout,
        };
        conn.finish(&mut |_| None)?;
        Ok(conn)
    }

    /// Sets how long the next replies may take (a reply that waits for a person at a
    /// pinentry needs longer than one the agent computes).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends one command line and reads the reply; `inquire` answers `INQUIRE <keyword>`
    /// with the data to send (`None` cancels the inquiry).
    pub fn transact(
        &mut self,
        command: &str,
        inquire: &mut dyn FnMut(&str) -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Response, Failure> {
        if command.contains('\n') || command.len() + 1 > 1000 {
            return Err(Failure::Protocol("command line too long".into()));
        }
        self.writer.write_all(command.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()?;
        self.finish(inquire)
    }

    /// Reads lines up to `OK` or `ERR`.
    fn finish(
        &mut self,
        inquire: &mut dyn FnMut(&str) -> Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Response, Failure> {
        let mut response = Response::default();
        let mut line = Zeroizing::new(Vec::with_capacity(1024));
        let deadline = Instant::now() + self.timeout;
        loop {
            line.clear();
            self.read_line(&mut line, deadline)?;
            let (word, rest) = split_word(&line);
            match word {
                b"OK" => return Ok(response),
                b"ERR" => {
                    let text = String::from_utf8_lossy(rest);
                    let (num, desc) = text.split_once(' ').unwrap_or((&text, ""));
                    let code = num.parse::<u32>().map(|n| n & 0xffff).unwrap_or(0);
                    return Err(Failure::Agent {
                        code,
                        text: desc.to_string(),
                    });
                }
                b"D" => {
                    if response.data.len() + rest.len() > MAX_REPLY_DATA {
                        return Err(Failure::Protocol(format!(
                            "{} sent more than {MAX_REPLY_DATA} bytes of data in one reply",
                            self.socket.display()
                        )));
                    }
                    unescape_into(rest, &mut response.data)
                }
                b"S" => {
                    if response.status.len() >= MAX_REPLY_DATA / MAX_LINE {
                        return Err(Failure::Protocol(format!(
                            "{} sent too many status lines in one reply",
                            self.socket.display()
                        )));
                    }
                    let text = String::from_utf8_lossy(rest);
                    let (k, v) = text.split_once(' ').unwrap_or((&text, ""));
                    response.status.push((k.to_string(), v.to_string()));
                }
                b"INQUIRE" => {
                    let keyword = String::from_utf8_lossy(rest);
                    let keyword = keyword.split(' ').next().unwrap_or("").to_string();
                    match inquire(&keyword) {
                        Some(data) => self.send_data(&data)?,
                        None => {
                            self.writer.write_all(b"CAN\n")?;
                            self.writer.flush()?;
                        }
                    }
                }
                b"#" | b"" => {}
                other => {
                    return Err(Failure::Protocol(format!(
                        "{} sent an unexpected line {:?}",
                        self.socket.display(),
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
    }

    /// Reads one line (without its line end) into `line`, failing when the deadline passes,
    /// the line exceeds [`MAX_LINE`] or the server closes the connection.
    fn read_line(&mut self, line: &mut Vec<u8>, deadline: Instant) -> Result<(), Failure> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Failure::Timeout {
                socket: self.socket.clone(),
                after: self.timeout,
            };
            if left.is_zero() {
                return Err(timeout);
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            let (used, done) = {
                let buf = match self.reader.fill_buf() {
                    Ok(b) => b,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        return Err(timeout)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Failure::Io(e)),
                };
                if buf.is_empty() {
                    return Err(Failure::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} closed the connection", self.socket.display()),
                    )));
                }
                let newline = buf.iter().position(|b| *b == b'\n');
                let part = &buf[..newline.unwrap_or(buf.len())];
                // One byte over for an optional CR before the LF.
                if line.len() + part.len() > MAX_LINE + 1 {
                    return Err(Failure::Protocol(format!(
                        "{} sent a line longer than {MAX_LINE} bytes",
                        self.socket.display()
                    )));
                }
                line.extend_from_slice(part);
                (newline.map_or(buf.len(), |i| i + 1), newline.is_some())
            };
            self.reader.consume(used);
            if done {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(Failure::Protocol(format!(
                        "{} sent a line longer than {MAX_LINE} bytes",
                        self.socket.display()
                    )));
                }
                return Ok(());
            }
        }
    }

    /// Sends `data` as escaped `D` lines, then `END`.
    fn send_data(&mut self, data: &[u8]) -> Result<(), Failure> {
        let mut line = Zeroizing::new(Vec::with_capacity(MAX_DATA_LINE + 8));
        for chunk in data.chunks(MAX_DATA_LINE / 3) {
            line.clear();
            line.extend_from_slice(b"D ");
            escape_into(chunk, &mut line);
            line.push(b'\n');
            self.writer.write_all(&line)?;
        }
        self.writer.write_all(b"END\n")?;
        self.writer.flush()?;
        Ok(())
    }
}

fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[]),
    }
}

/// Assuan data escaping: `%`, CR and LF become `%XX`.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        if matches!(b, b'%' | b'\r' | b'\n') {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

pub(crate) fn unescape_into(data: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'%' && i + 2 < data.len() {
            let hex = std::str::from_utf8(&data[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
}

/// Escaping of a command argument the way gpg writes `SETKEYDESC`: percent-escape `%`, `+`,
/// control characters and `"`, then spaces become `+`.
pub fn percent_plus_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            ' ' => out.push('+'),
            '%' | '+' | '"' => out.push_str(&format!("%{:02X}", c as u32)),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("%{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip() {
        let data = b"(7:enc-val(3:rsa(1:a3:%\n\r)))";
        let mut esc = Vec::new();
        escape_into(data, &mut esc);
        assert!(!esc.contains(&b'\n') && !esc.contains(&b'\r'));
        let mut back = Vec::new();
        unescape_into(&esc, &mut back);
        assert_eq!(back, data);
        let mut tail = Vec::new();
        unescape_into(b"ab%4", &mut tail);
        assert_eq!(tail, b"ab%4");
    }

    #[test]
    fn keydesc_escaping() {
        assert_eq!(
            percent_plus_escape("a \"b\" 100%+\nc"),
            "a+%22b%22+100%25%2B%0Ac"
        );
    }
}
