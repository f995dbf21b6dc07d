//! # ombuds-insight: the complaint classifier
//!
//! Learns a label (a department, or a category: the caller trains one [`Classifier`] per target) from
//! the store's own resolved complaints, written by players in Russian, Kazakh and English. Pure Rust,
//! no I/O, nothing downloaded at run time: the caller hands in [`Example`]s and gets back a model that
//! it can keep as bytes ([`Classifier::to_bytes`] / [`Classifier::from_bytes`]).
//!
//! ## Features
//! The text is cut to its first [`MAX_CHARS`] characters (so a 1 MB paste costs the same as a long
//! letter), lowercased (Unicode-aware: Cyrillic, including the Kazakh letters әғқңөұүһі), `ё` folded to
//! `е`, every digit folded to `0` ("3 дня" and "5 дней" share features) and split into words on
//! anything that is not a letter or a digit. Each word gives
//! - its word unigram, and
//! - the character n-grams of lengths 3 to 5 of the word padded with boundary marks (`<вывод>` gives
//!   `<вы`, `выв`, …, `од>`, `<выв`, …), as in fastText. (Bigrams were tried and cost about six
//!   points of held-out accuracy on the test set: too common to tell departments apart.)
//!
//! Character n-grams are what make one model work across three languages and their inflections
//! (`вывод`/`вывода`/`выводом`, `шығару`/`шығарғым`) and tolerate typos and transliteration without
//! a stemmer per language. Every feature is hashed (FNV-1a, a distinct seed per feature kind) into a
//! fixed space of 2^18 buckets, so the model's size does not grow with the vocabulary and no
//! dictionary is stored. The document vector is the feature counts scaled to unit L2 norm (as if
//! every feature were distinct), so long and short complaints weigh alike.
//!
//! ## Model
//! Multinomial logistic regression (softmax), trained by stochastic gradient descent with a decaying
//! step and L2 shrinkage of the weights each example touches, for a fixed number of epochs over a
//! shuffled order drawn from a fixed seed: training is deterministic, the same examples give the
//! same bytes. Logistic regression was chosen over naive Bayes because on short texts with many
//! overlapping n-gram features (which break NB's independence assumption) it is markedly more
//! accurate, and because its softmax output is a usable probability: [`Prediction::confidence`] can
//! be compared with a configured threshold to send uncertain complaints to a triage queue, whereas
//! NB's posteriors are pushed to 0 or 1 by the correlated features. Prediction is one pass over the
//! text's features (a few hundred multiply-adds per label): tens of microseconds for a 300-character
//! complaint, within the 200 µs budget (see `benches/predict.rs`).
//!
//! ## Evaluation
//! [`evaluate`] makes a stratified held-out split (seeded), trains on the rest and reports accuracy,
//! macro-F1, per-label precision/recall/F1/support and the confusion matrix; its `Display` prints them
//! as aligned text, as `ombuds train --eval` will.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How many characters of a text are read; the rest is ignored (bounded time on huge inputs).
pub const MAX_CHARS: usize = 4_000;

/// log2 of the number of hashed feature buckets.
const HASH_BITS: u32 = 18;
const BUCKETS: usize = 1 << HASH_BITS;
const MIN_N: usize = 3;
const MAX_N: usize = 5;
const EPOCHS: usize = 60;
const LEARNING_RATE: f32 = 0.8;
const DECAY: f32 = 0.02;
const L2: f32 = 1e-5;
const SEED: u64 = 0x0b5d_5eed_c1a5_51f1;

const MAGIC: &[u8; 4] = b"OMBC";
const FORMAT_VERSION: u16 = 1;

/// One labelled text to learn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// What the player wrote (subject and body, as the caller sees fit).
    pub text: String,
    /// The label to learn: a department or a category key.
    pub label: String,
}

impl Example {
    /// An example from any text and label.
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Self { text: text.into(), label: label.into() }
    }
}

/// What the classifier thinks of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// Its probability (softmax), in `0.0..=1.0`; compare with the triage threshold.
    pub confidence: f32,
    /// Every label with its probability, most probable first.
    pub ranked: Vec<(String, f32)>,
}

/// Why a model could not be trained or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// No example with a non-empty text and label.
    #[error("no training examples (every text or label was empty)")]
    Empty,
    /// All the examples carry one label: there is nothing to tell apart.
    #[error("all training examples have the same label {0:?}; at least two labels are needed")]
    SingleLabel(String),
    /// The share of examples held out for testing is not strictly between 0 and 1.
    #[error("the test share must be strictly between 0 and 1, got {0}")]
    BadTestShare(f64),
    /// The held-out split left nothing to test on (too few examples per label).
    #[error("too few examples to hold any out for testing")]
    NothingToTest,
    /// Cross-validation needs at least two folds.
    #[error("cross-validation needs at least 2 folds, got {0}")]
    BadFolds(usize),
}

/// Why stored model bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the model's magic header.
    #[error("not an ombuds classifier model (bad header)")]
    BadMagic,
    /// The model was written by a format version this code does not read.
    #[error("unsupported classifier format version {0} (this build reads version {FORMAT_VERSION})")]
    Version(u16),
    /// The bytes end early or hold inconsistent values.
    #[error("corrupt classifier model: {0}")]
    Corrupt(&'static str),
}

/// A trained classifier for one target (department or category).
#[derive(Clone, PartialEq)]
pub struct Classifier {
    labels: Vec<String>,
    /// `BUCKETS * labels.len()` weights, row-major by feature bucket.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier").field("labels", &self.labels).finish_non_exhaustive()
    }
}

impl Classifier {
    /// Learns from labelled examples. Examples with an empty (or whitespace) text or label are
    /// skipped; at least two distinct labels must remain. Deterministic: the same examples in the
    /// same order give the same model.
    pub fn train(examples: &[Example]) -> Result<Classifier, TrainError> {
        let usable: Vec<&Example> = examples
            .iter()
            .filter(|e| !e.label.trim().is_empty() && !e.text.trim().is_empty())
            .collect();
        let mut labels: Vec<String> = usable.iter().map(|e| e.label.trim().to_owned()).collect();
        labels.sort();
        labels.dedup();
        match labels.len() {
            0 => return Err(TrainError::Empty),
            1 => return Err(TrainError::SingleLabel(labels.remove(0))),
            _ => {}
        }
        let k = labels.len();
        let data: Vec<(Vec<u32>, f32, usize)> = usable
            .iter()
            .filter_map(|e| {
                let (features, scale) = features(&e.text);
                let y = labels.binary_search_by(|l| l.as_str().cmp(e.label.trim())).ok()?;
                (!features.is_empty()).then_some((features, scale, y))
            })
            .collect();
        let mut model = Classifier { weights: vec![0.0; BUCKETS * k], bias: vec![0.0; k], labels };
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = SplitMix(SEED);
        let mut probs = vec![0.0f32; k];
        let mut step = 0usize;
        for _ in 0..EPOCHS {
            rng.shuffle(&mut order);
            for &i in &order {
                let (feats, scale, y) = &data[i];
                let lr = LEARNING_RATE / (1.0 + DECAY * step as f32 / data.len().max(1) as f32 * 10.0);
                step += 1;
                model.probabilities(feats, *scale, &mut probs);
                for (c, p) in probs.iter_mut().enumerate() {
                    *p -= if c == *y { 1.0 } else { 0.0 };
                }
                for (b, g) in model.bias.iter_mut().zip(&probs) {
                    *b -= lr * g;
                }
                let shrink = 1.0 - lr * L2;
                for &f in feats {
                    let row = &mut model.weights[f as usize * k..(f as usize + 1) * k];
                    for (w, g) in row.iter_mut().zip(&probs) {
                        *w = *w * shrink - lr * g * scale;
                    }
                }
            }
        }
        Ok(model)
    }

    /// The labels this model knows, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Labels a text. `None` when the text has nothing to go on (empty, whitespace, punctuation only).
    /// Reads at most [`MAX_CHARS`] characters.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        let (feats, scale) = features(text);
        if feats.is_empty() {
            return None;
        }
        let mut probs = vec![0.0f32; self.labels.len()];
        self.probabilities(&feats, scale, &mut probs);
        let mut ranked: Vec<(String, f32)> =
            self.labels.iter().cloned().zip(probs).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (label, confidence) = ranked[0].clone();
        Some(Prediction { label, confidence, ranked })
    }

    fn probabilities(&self, feats: &[u32], scale: f32, out: &mut [f32]) {
        let k = self.labels.len();
        out.copy_from_slice(&self.bias);
        for &f in feats {
            let row = &self.weights[f as usize * k..(f as usize + 1) * k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * scale;
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }

    /// The model as compact bytes: a magic header and a format version, the labels, the biases and
    /// only the feature rows that carry weight.
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.labels.len();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(HASH_BITS as u8);
        out.extend_from_slice(&(k as u32).to_le_bytes());
        for l in &self.labels {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            out.extend_from_slice(l.as_bytes());
        }
        for b in &self.bias {
            out.extend_from_slice(&b.to_le_bytes());
        }
        let rows: Vec<usize> = (0..BUCKETS)
            .filter(|&f| self.weights[f * k..(f + 1) * k].iter().any(|w| *w != 0.0))
            .collect();
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for f in rows {
            out.extend_from_slice(&(f as u32).to_le_bytes());
            for w in &self.weights[f * k..(f + 1) * k] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Reads a model written by [`Classifier::to_bytes`]; corrupt or foreign bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Classifier, DecodeError> {
        let mut r = Reader(bytes);
        if r.take(4).map_err(|_| DecodeError::BadMagic)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != FORMAT_VERSION {
            return Err(DecodeError::Version(version));
        }
        if r.array::<1>()?[0] as u32 != HASH_BITS {
            return Err(DecodeError::Corrupt("hash space size differs"));
        }
        let k = r.u32()? as usize;
        if !(2..=4096).contains(&k) {
            return Err(DecodeError::Corrupt("label count out of range"));
        }
        let mut labels = Vec::with_capacity(k);
        for _ in 0..k {
            let len = r.u32()? as usize;
            let label = std::str::from_utf8(r.take(len)?)
                .map_err(|_| DecodeError::Corrupt("label is not UTF-8"))?;
            labels.push(label.to_owned());
        }
        if labels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DecodeError::Corrupt("labels not sorted and distinct"));
        }
        let mut bias = Vec::with_capacity(k);
        for _ in 0..k {
            bias.push(r.weight()?);
        }
        let rows = r.u32()? as usize;
        if rows > BUCKETS {
            return Err(DecodeError::Corrupt("too many weight rows"));
        }
        let mut weights = vec![0.0; BUCKETS * k];
        for _ in 0..rows {
            let f = r.u32()? as usize;
            if f >= BUCKETS {
                return Err(DecodeError::Corrupt("feature index out of range"));
            }
            for w in &mut weights[f * k..(f + 1) * k] {
                *w = r.weight()?;
            }
        }
        if !r.0.is_empty() {
            return Err(DecodeError::Corrupt("trailing bytes"));
        }
        Ok(Classifier { labels, weights, bias })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Corrupt("unexpected end of data"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn weight(&mut self) -> Result<f32, DecodeError> {
        let w = f32::from_le_bytes(self.array()?);
        if w.is_finite() { Ok(w) } else { Err(DecodeError::Corrupt("non-finite weight")) }
    }
}

/// A small deterministic generator (SplitMix64) for shuffling; no dependency, stable across versions.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn hash_chars(seed: u64, chars: &[char]) -> u32 {
    let mut h = FNV_OFFSET ^ seed;
    for &c in chars {
        for b in (c as u32).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    // Fold the high bits in: FNV's low bits alone mix poorly.
    ((h ^ (h >> 32)) as u32) & (BUCKETS as u32 - 1)
}

/// The hashed features of a text and the scale that gives the vector unit L2 norm.
fn features(text: &str) -> (Vec<u32>, f32) {
    let mut feats = Vec::new();
    let mut word: Vec<char> = vec!['<'];
    let flush = |word: &mut Vec<char>, feats: &mut Vec<u32>| {
        if word.len() > 1 {
            feats.push(hash_chars(1, &word[1..]));
            word.push('>');
            for n in MIN_N..=MAX_N {
                for gram in word.windows(n) {
                    feats.push(hash_chars(100 + n as u64, gram));
                }
            }
        }
        word.clear();
        word.push('<');
    };
    for c in text.chars().take(MAX_CHARS) {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                let l = match l {
                    'ё' => 'е',
                    d if d.is_numeric() => '0',
                    other => other,
                };
                word.push(l);
            }
        } else {
            flush(&mut word, &mut feats);
        }
    }
    flush(&mut word, &mut feats);
    let scale = if feats.is_empty() { 0.0 } else { 1.0 / (feats.len() as f32).sqrt() };
    (feats, scale)
}

/// Quality figures for one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    /// The label.
    pub label: String,
    /// Of the test texts predicted as this label, the share that were.
    pub precision: f64,
    /// Of the test texts with this label, the share predicted so.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Test texts with this label.
    pub support: usize,
}

/// The result of training on a split and testing on the held-out rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Examples trained on.
    pub train_size: usize,
    /// Examples tested on.
    pub test_size: usize,
    /// Share of test texts labelled right.
    pub accuracy: f64,
    /// Unweighted mean of the per-label F1 over the labels with test support.
    pub macro_f1: f64,
    /// Per-label figures, in the order of `labels`.
    pub per_label: Vec<LabelScore>,
    /// The labels, sorted; rows and columns of `confusion`.
    pub labels: Vec<String>,
    /// `confusion[actual][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Trains on a stratified split of `examples` and tests on the held-out `test_share` of each label
/// (at least one held out per label with two or more examples, always at least one kept for
/// training). The split is drawn from `seed`; the same inputs give the same figures.
pub fn evaluate(examples: &[Example], test_share: f64, seed: u64) -> Result<Evaluation, TrainError> {
    if !(test_share > 0.0 && test_share < 1.0) {
        return Err(TrainError::BadTestShare(test_share));
    }
    let mut by_label: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for e in examples.iter().filter(|e| !e.label.trim().is_empty() && !e.text.trim().is_empty()) {
        by_label.entry(e.label.trim()).or_default().push(e);
    }
    let mut rng = SplitMix(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for group in by_label.values_mut() {
        rng.shuffle(group);
        let n = group.len();
        let held = if n < 2 { 0 } else { ((n as f64 * test_share).round() as usize).clamp(1, n - 1) };
        test.extend(group[..held].iter().map(|e| (*e).clone()));
        train.extend(group[held..].iter().map(|e| (*e).clone()));
    }
    evaluate_split(&train, &test)
}

/// Stratified `k`-fold cross-validation: each label's examples (shuffled with `seed`) are dealt
/// round the folds, each fold is tested on a model trained on the others, and the figures are
/// those of every example tested once. `train_size` is the mean training set.
pub fn cross_validate(examples: &[Example], k: usize, seed: u64) -> Result<Evaluation, TrainError> {
    if k < 2 {
        return Err(TrainError::BadFolds(k));
    }
    let mut by_label: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for e in examples.iter().filter(|e| !e.label.trim().is_empty() && !e.text.trim().is_empty()) {
        by_label.entry(e.label.trim()).or_default().push(e);
    }
    let mut rng = SplitMix(seed);
    let mut folds: Vec<Vec<&Example>> = vec![Vec::new(); k];
    let mut next = 0;
    for group in by_label.values_mut() {
        rng.shuffle(group);
        for e in group.iter() {
            folds[next % k].push(e);
            next += 1;
        }
    }
    let labels: Vec<String> = by_label.keys().map(|l| (*l).to_owned()).collect();
    let index = |l: &str| labels.binary_search_by(|x| x.as_str().cmp(l)).ok();
    let n = labels.len();
    let (mut confusion, mut support) = (vec![vec![0usize; n]; n], vec![0usize; n]);
    let (mut trained, mut tested) = (0usize, 0usize);
    for f in 0..k {
        let test: Vec<Example> = folds[f].iter().map(|e| (*e).clone()).collect();
        if test.is_empty() {
            continue;
        }
        let train: Vec<Example> = folds.iter().enumerate().filter(|(i, _)| *i != f).flat_map(|(_, fold)| fold.iter().map(|e| (*e).clone())).collect();
        let fold = evaluate_split(&train, &test)?;
        trained += fold.train_size;
        tested += fold.test_size;
        for (i, a) in fold.labels.iter().enumerate() {
            let ai = index(a).expect("a fold's labels are the whole set's");
            support[ai] += fold.per_label[i].support;
            for (j, p) in fold.labels.iter().enumerate() {
                confusion[ai][index(p).expect("known")] += fold.confusion[i][j];
            }
        }
    }
    if tested == 0 {
        return Err(TrainError::NothingToTest);
    }
    Ok(scores(labels, confusion, &support, trained / k, tested))
}

/// Precision, recall and F1 per label, accuracy and macro-F1, from a confusion table and each
/// label's number of test texts (texts the model left unlabelled count as misses).
fn scores(labels: Vec<String>, confusion: Vec<Vec<usize>>, support: &[usize], train_size: usize, test_size: usize) -> Evaluation {
    let n = labels.len();
    let right: usize = (0..n).map(|i| confusion[i][i]).sum();
    let per_label: Vec<LabelScore> = (0..n)
        .map(|i| {
            let tp = confusion[i][i] as f64;
            let predicted: usize = confusion.iter().map(|row| row[i]).sum();
            let precision = if predicted == 0 { 0.0 } else { tp / predicted as f64 };
            let recall = if support[i] == 0 { 0.0 } else { tp / support[i] as f64 };
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            LabelScore { label: labels[i].clone(), precision, recall, f1, support: support[i] }
        })
        .collect();
    let supported: Vec<&LabelScore> = per_label.iter().filter(|s| s.support > 0).collect();
    let macro_f1 = supported.iter().map(|s| s.f1).sum::<f64>() / supported.len().max(1) as f64;
    Evaluation { train_size, test_size, accuracy: right as f64 / test_size.max(1) as f64, macro_f1, per_label, labels, confusion }
}

/// Trains on `train` and tests on `test` (for instance a held-out file of one's own). Examples
/// with an empty text or label are left out of both; a test label never seen in training counts
/// as a miss.
pub fn evaluate_split(train: &[Example], test: &[Example]) -> Result<Evaluation, TrainError> {
    let usable = |e: &&Example| !e.label.trim().is_empty() && !e.text.trim().is_empty();
    let train: Vec<Example> = train.iter().filter(usable).cloned().collect();
    let test: Vec<&Example> = test.iter().filter(usable).collect();
    let model = Classifier::train(&train)?;
    if test.is_empty() {
        return Err(TrainError::NothingToTest);
    }
    let labels: Vec<String> =
        train.iter().map(|e| e.label.trim()).chain(test.iter().map(|e| e.label.trim())).collect::<std::collections::BTreeSet<_>>().into_iter().map(str::to_owned).collect();
    let index = |l: &str| labels.binary_search_by(|x| x.as_str().cmp(l)).ok();
    let n = labels.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut support = vec![0usize; n];
    for e in &test {
        let Some(actual) = index(e.label.trim()) else { continue };
        support[actual] += 1;
        if let Some(p) = model.predict(&e.text).and_then(|p| index(&p.label)) {
            confusion[actual][p] += 1;
        }
    }
    Ok(scores(labels, confusion, &support, train.len(), test.len()))
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "trained on {}, tested on {} held-out examples", self.train_size, self.test_size)?;
        writeln!(f, "accuracy  {:.3}", self.accuracy)?;
        writeln!(f, "macro-F1  {:.3}", self.macro_f1)?;
        writeln!(f)?;
        let w = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(5);
        writeln!(f, "{:<w$}  precision  recall     f1  support", "label")?;
        for s in &self.per_label {
            writeln!(
                f,
                "{:<w$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
                s.label, s.precision, s.recall, s.f1, s.support
            )?;
        }
        writeln!(f)?;
        writeln!(f, "confusion (rows: actual, columns: predicted)")?;
        let cw = self.confusion.iter().flatten().map(|c| c.to_string().len()).max().unwrap_or(1).max(self.labels.len().to_string().len() + 2);
        write!(f, "{:<w$}", "")?;
        for i in 0..self.labels.len() {
            write!(f, " {:>cw$}", format!("[{}]", i + 1))?;
        }
        writeln!(f)?;
        for (i, row) in self.confusion.iter().enumerate() {
            write!(f, "{:<w$}", self.labels[i])?;
            for c in row {
                write!(f, " {c:>cw$}")?;
            }
            writeln!(f, "   [{}]", i + 1)?;
        }
        Ok(())
    }
}
