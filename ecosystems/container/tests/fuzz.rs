//! No panic on any input: every manager reads mutations of real-looking manifests (cut at
//! every byte, bytes flipped, lines duplicated), and the scheme compares what comes out.

use updatebot_container::dockerfile::Dockerfile;
use updatebot_container::yaml_managers::{Compose, GitlabCi, HelmValues, Kubernetes};
use updatebot_container::Docker;
use updatebot_core::{Manager, VersionScheme};

const SAMPLES: &[&str] = &[
    "\u{feff}# escape=`\r\nARG V=1.25.3\r\nFROM --platform=$P nginx:${V:-1.0}@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef AS a `\r\n  # c\r\nRUN --mount=type=bind,from=busybox:1.36 <<EOF\r\nFROM x\r\nEOF\r\nCOPY --from=a /a /b\r\n",
    "services:\n  a:\n    image: \"nginx:1.25\" # c\n  b: {image: 'redis:7'}\n---\nservices: [1, 2]\n",
    "include: [{local: /a.yml}, b.yml]\nx: &x\n  image: {name: \"node:20\"}\n  services: [postgres:16, {name: redis:7}]\ny:\n  <<: *x\n  script: [a]\n",
    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: 127.0.0.1:5000/a/b:1.0\n  initContainers: [{image: \"x:1\"}]\n",
    "image:\n  registry: r.example\n  repository: a/b\n  tag: \"1.0\"\n  digest: \"\"\nother:\n  image: c:2\n",
];

fn mutations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for cut in 0..bytes.len() {
        out.push(String::from_utf8_lossy(&bytes[..cut]).into_owned());
        let mut flipped = bytes.to_vec();
        flipped[cut] = match flipped[cut] {
            b'\n' => b' ',
            b':' => b'$',
            b'{' => b'}',
            b'"' => b'\'',
            b => b.wrapping_add(1) | 0x20,
        };
        out.push(String::from_utf8_lossy(&flipped).into_owned());
    }
    for (i, line) in text.lines().enumerate() {
        out.push(text.replacen(line, &format!("{line}\n{line}"), 1));
        if i > 20 {
            break;
        }
    }
    out
}

#[test]
fn managers_never_panic() {
    let managers: [&dyn Manager; 5] = [&Dockerfile, &Compose, &GitlabCi, &Kubernetes, &HelmValues];
    let mut read = 0;
    for sample in SAMPLES {
        for text in mutations(sample) {
            for m in managers {
                if let Ok(file) = m.extract("x", &text) {
                    read += 1;
                    for d in &file.dependencies {
                        if let Some(span) = d.span {
                            assert!(span.slice(&text).is_some(), "{text:?}");
                        }
                        let _ = Docker.compare(&d.current_value, "1.0");
                        let _ = Docker.is_prerelease(&d.current_value);
                    }
                }
            }
        }
    }
    assert!(read > 1000, "{read}");
}
