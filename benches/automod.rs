//! The cost AutoMod and the §6 text cleaning add to the message path: a room
//! with 1,000 blocked terms checking a typical 60-character message with no
//! hit, one with a hit, one with accents and emoji (the non-ASCII path) and a
//! 500-character message; `clean_chat` on the same texts; and compiling the
//! 1,000 terms (paid once per change of a room's terms).
//!
//! `cargo bench -p roomcast --bench automod -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use roomcast::protocol::text::clean_chat;
use roomcast::room::automod::{Action, Term, Terms};

/// 1,000 made-up words of 4–10 letters, a quarter of them with a `*`, a tenth
/// `block`; the same every run (a fixed linear congruential generator).
fn terms() -> Vec<Term> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    (0..1000)
        .map(|i| {
            let len = 4 + next(7);
            let word: String = (0..len).map(|_| (b'a' + next(26) as u8) as char).collect();
            let pattern = match i % 8 {
                0 => format!("{word}*"),
                1 => format!("*{word}"),
                _ => word,
            };
            let action = if i % 10 == 0 {
                Action::Block
            } else {
                Action::Hold
            };
            Term::new(pattern, action)
        })
        .collect()
}

fn texts(terms: &[Term]) -> Vec<(&'static str, String)> {
    let no_hit = "hey everyone, what a play that was! cant wait for the next 1";
    let hit_word = terms[2].pattern.trim_matches('*');
    let hit = format!(
        "{} {hit_word} right there",
        &no_hit[..60 - hit_word.len() - 13]
    );
    let accents = "ça va très bien, là-bas aussi 😀🔥 on se voit après le jeu ❤️";
    let long = no_hit.repeat(9)[..500].to_owned();
    assert_eq!(no_hit.chars().count(), 60);
    vec![
        ("60_chars_no_hit", no_hit.to_owned()),
        ("60_chars_hit", hit),
        ("60_chars_non_ascii", accents.to_owned()),
        ("500_chars_no_hit", long),
    ]
}

fn bench(c: &mut Criterion) {
    let room = terms();
    let compiled = Terms::compile(&[], &room).expect("the bench terms compile");
    let texts = texts(&room);
    assert!(compiled.check(&texts[1].1).is_some(), "the hit text hits");
    assert!(
        compiled.check(&texts[0].1).is_none(),
        "the plain text does not"
    );

    let mut group = c.benchmark_group("terms_check_1000");
    for (name, text) in &texts {
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| compiled.check(black_box(text)).map(|h| h.action))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("clean_chat");
    for (name, text) in &texts {
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| clean_chat(black_box(text), 500))
        });
    }
    group.finish();

    c.bench_function("terms_compile_1000", |b| {
        b.iter(|| Terms::compile(&[], black_box(&room)).map(|t| t.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
