//! Seeded byte-level mutations.

use crate::MAX_INPUT;

/// A small, fast, seeded generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Makes new inputs out of corpus entries.
#[derive(Clone, Debug)]
pub struct Mutator {
    rng: SplitMix,
    dictionary: &'static [&'static str],
}

impl Mutator {
    /// A mutator seeded with `seed` that inserts tokens from `dictionary`.
    pub fn new(seed: u64, dictionary: &'static [&'static str]) -> Self {
        Mutator {
            rng: SplitMix::new(seed),
            dictionary,
        }
    }

    /// A mutated copy of a random entry of `corpus` (one to eight stacked mutations).
    pub fn mutate(&mut self, corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut data = corpus
            .get(self.rng.below(corpus.len()))
            .cloned()
            .unwrap_or_default();
        let n = 1 + self.rng.below(8);
        for _ in 0..n {
            self.mutate_once(&mut data, corpus);
        }
        data.truncate(MAX_INPUT);
        data
    }

    fn pos(&mut self, data: &[u8]) -> usize {
        self.rng.below(data.len() + 1)
    }

    /// A position just after a newline (or the start), where YAML structure begins.
    fn line_start(&mut self, data: &[u8]) -> usize {
        let p = self.pos(data);
        data[..p]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        match self.rng.below(11) {
            // Flip a bit.
            0 if !data.is_empty() => {
                let i = self.rng.below(data.len());
                data[i] ^= 1 << self.rng.below(8);
            }
            // Replace a byte by a random or an interesting one.
            1 if !data.is_empty() => {
                let i = self.rng.below(data.len());
                const BYTES: &[u8] = b" \t\n:-[]{},&*!|>'\"#?%@`0129.eE+\x00\xff\xc3";
                data[i] = if self.rng.below(2) == 0 {
                    BYTES[self.rng.below(BYTES.len())]
                } else {
                    self.rng.next_u64() as u8
                };
            }
            // Insert random bytes.
            2 => {
                let p = self.pos(data);
                let n = 1 + self.rng.below(4);
                for k in 0..n {
                    data.insert(p + k, self.rng.next_u64() as u8);
                }
            }
            // Delete a range.
            3 if !data.is_empty() => {
                let p = self.rng.below(data.len());
                let n = (1 + self.rng.below(16)).min(data.len() - p);
                data.drain(p..p + n);
            }
            // Insert a dictionary token (often at the start of a line).
            4 | 5 => {
                let t = self.dictionary[self.rng.below(self.dictionary.len())].as_bytes();
                let p = if self.rng.below(2) == 0 {
                    self.line_start(data)
                } else {
                    self.pos(data)
                };
                data.splice(p..p, t.iter().copied());
            }
            // Duplicate a range (repeats structure: nesting, long lists).
            6 if !data.is_empty() => {
                let a = self.rng.below(data.len());
                let n = (1 + self.rng.below(64)).min(data.len() - a);
                let chunk: Vec<u8> = data[a..a + n].to_vec();
                let p = self.pos(data);
                let most = if self.rng.below(8) == 0 { 200 } else { 3 };
                let times = 1 + self.rng.below(most);
                for _ in 0..times {
                    data.splice(p..p, chunk.iter().copied());
                    if data.len() > MAX_INPUT {
                        break;
                    }
                }
            }
            // Splice: the head of this input, the tail of another corpus entry.
            7 if !corpus.is_empty() => {
                let other = &corpus[self.rng.below(corpus.len())];
                let p = self.pos(data);
                let q = self.rng.below(other.len() + 1);
                data.truncate(p);
                data.extend_from_slice(&other[q..]);
            }
            // Insert a whole line of another corpus entry.
            8 if !corpus.is_empty() => {
                let other = &corpus[self.rng.below(corpus.len())];
                let lines: Vec<&[u8]> = other.split(|&b| b == b'\n').collect();
                let line = lines[self.rng.below(lines.len())];
                let p = self.line_start(data);
                let mut ins = line.to_vec();
                ins.push(b'\n');
                data.splice(p..p, ins);
            }
            // Replace a number by an extreme one.
            9 => {
                let starts: Vec<usize> = (0..data.len())
                    .filter(|&i| {
                        data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit())
                    })
                    .collect();
                if starts.is_empty() {
                    return;
                }
                let s = starts[self.rng.below(starts.len())];
                let mut e = s;
                while e < data.len() && (data[e].is_ascii_digit() || b".eE-+".contains(&data[e])) {
                    e += 1;
                }
                const NUMS: &[&str] = &[
                    "0",
                    "1",
                    "-1",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "18446744073709551616",
                    "1152921504606846976",
                    "1e300",
                    "1.0000000000000002e300",
                    "1e-320",
                    "5e-324",
                    "1.7976931348623157e308",
                    "1e999",
                    ".nan",
                    ".inf",
                    "4503599627370497",
                ];
                let n = NUMS[self.rng.below(NUMS.len())].as_bytes();
                data.splice(s..e, n.iter().copied());
            }
            // Indent or unindent a line.
            _ => {
                let p = self.line_start(data);
                if self.rng.below(2) == 0 {
                    data.splice(p..p, *b"  ");
                } else if data.get(p) == Some(&b' ') {
                    data.remove(p);
                }
            }
        }
    }
}
