//! `cors-gateway` without arguments: the demo starts, the three curl commands it prints give the
//! outcomes it announces (sent here with a hyper client), and Ctrl-C stops it cleanly.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use common::{Gateway, client, empty, request, send};

/// A printed `curl` command line, split like a POSIX shell would (single quotes only).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    words.push(current);
    words
}

struct Curl {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

fn parse_curl(line: &str) -> Curl {
    let words = words(line);
    assert_eq!(words[..2], ["curl", "-i"], "{line}");
    let mut curl = Curl { method: "GET".into(), url: String::new(), headers: Vec::new() };
    let mut rest = words[2..].iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "-X" => curl.method.clone_from(rest.next().unwrap()),
            "-H" => {
                let (name, value) = rest.next().unwrap().split_once(": ").unwrap();
                curl.headers.push((name.to_owned(), value.to_owned()));
            }
            url => url.clone_into(&mut curl.url),
        }
    }
    curl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_three_examples_and_stops_on_ctrl_c() {
    let mut demo = Gateway::start(&[]);
    let commands: Vec<(String, Curl)> = demo
        .banner
        .lines()
        .zip(demo.banner.lines().skip(1))
        .filter(|(_, line)| line.starts_with("curl "))
        .map(|(comment, line)| (comment.to_owned(), parse_curl(line)))
        .collect();
    assert_eq!(commands.len(), 3, "three examples in:\n{}", demo.banner);
    let client = client(false);
    let mut answers = Vec::new();
    for (comment, curl) in &commands {
        let headers: Vec<(&str, &str)> =
            curl.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert!(curl.url.starts_with(&format!("http://{}/", demo.address)), "{}", curl.url);
        let answer = send(&client, request(&curl.method, &curl.url, &headers, empty())).await;
        assert_eq!(answer.status, 200, "{comment}");
        answers.push((comment.clone(), answer));
    }

    let (allowed, preflight, refused) = (&answers[0], &answers[1], &answers[2]);
    assert!(allowed.0.contains("allowed"), "{}", allowed.0);
    assert!(allowed.0.contains("access-control-allow-origin: https://app.example.com"));
    assert_eq!(
        allowed.1.one("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(String::from_utf8_lossy(&allowed.1.body).starts_with("echo upstream got request"));

    assert!(preflight.0.contains("preflight"), "{}", preflight.0);
    assert!(preflight.0.contains("access-control-allow-methods: GET, POST, PUT"));
    assert_eq!(preflight.1.one("access-control-allow-methods").as_deref(), Some("GET, POST, PUT"));
    assert!(preflight.1.body.is_empty());

    assert!(refused.0.contains("refused"), "{}", refused.0);
    assert!(refused.1.access_control().is_empty());
    assert!(refused.1.body.is_empty(), "not forwarded to the echo upstream");

    demo.signal("INT");
    let status = tokio::task::spawn_blocking(move || {
        let status = demo.wait_exit();
        (status, demo.stderr())
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {:?}; stderr:\n{}", status.0, status.1);
    assert!(status.1.contains("shut down cleanly"), "{}", status.1);
}
