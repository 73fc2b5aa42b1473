//! One key's order as stored: handles of three bytes in blocks of at most [`BLOCK`] (a
//! two-level B-tree), with the seek (`partition`), insert, remove and walks over it.

use std::sync::Arc;

use crate::model::Image;

/// Most handles in one block: a block is 3 KiB, moved by an insert or removal.
pub const BLOCK: usize = 1024;

pub(super) type Handle = u32;

/// A handle as it sits in an order: three bytes (an order costs 3 bytes per record), so at
/// most [`MAX_HANDLES`] records are indexed; past that the store drops the indexes and
/// lists sort again.
pub(super) type Packed = [u8; 3];

/// Records the indexes can hold (2^24, about 16.7 million).
pub const MAX_HANDLES: usize = 1 << 24;

pub(super) fn pack(h: Handle) -> Packed {
    let [_, a, b, c] = h.to_be_bytes();
    [a, b, c]
}

pub(super) fn unpack(p: &Packed) -> Handle {
    u32::from_be_bytes([0, p[0], p[1], p[2]])
}

/// A position in an order: block and offset (offset == len of the last block: the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) block: usize,
    pub(super) off: usize,
}

/// One key's order: handles in blocks of at most [`BLOCK`], every block non-empty.
#[derive(Debug, Default)]
pub(super) struct Order {
    pub(super) blocks: Vec<Vec<Packed>>,
}

impl Order {
    /// Full blocks from handles in order, without an intermediate list.
    pub(super) fn from_sorted(sorted: impl ExactSizeIterator<Item = Handle>) -> Self {
        let n = sorted.len();
        let mut blocks: Vec<Vec<Packed>> = Vec::with_capacity(n.div_ceil(BLOCK));
        for h in sorted {
            match blocks.last_mut() {
                Some(b) if b.len() < BLOCK => b.push(pack(h)),
                _ => {
                    let mut b = Vec::with_capacity(BLOCK.min(n - blocks.len() * BLOCK));
                    b.push(pack(h));
                    blocks.push(b);
                }
            }
        }
        Order { blocks }
    }

    pub(super) fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }

    /// The first position whose record does not satisfy `before` (which must hold for a
    /// prefix of the order and fail for the rest).
    pub(super) fn partition(
        &self,
        slots: &[Option<Arc<Image>>],
        before: impl Fn(&Image) -> bool,
    ) -> Pos {
        let rec = |h: Handle| slots[h as usize].as_deref();
        let test = |p: &Packed| rec(unpack(p)).is_some_and(&before);
        // The first block whose last record is not `before`.
        let block = self.blocks.partition_point(|b| b.last().is_some_and(test));
        if block == self.blocks.len() {
            return self.end();
        }
        let off = self.blocks[block].partition_point(test);
        Pos { block, off }
    }

    /// How many handles come before `p`.
    pub(super) fn index(&self, p: Pos) -> usize {
        self.blocks[..p.block.min(self.blocks.len())]
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            + p.off
    }

    pub(super) fn end(&self) -> Pos {
        match self.blocks.len() {
            0 => Pos { block: 0, off: 0 },
            n => Pos {
                block: n - 1,
                off: self.blocks[n - 1].len(),
            },
        }
    }

    pub(super) fn get(&self, p: Pos) -> Option<Handle> {
        self.blocks
            .get(p.block)
            .and_then(|b| b.get(p.off))
            .map(unpack)
    }

    pub(super) fn insert(&mut self, p: Pos, h: Handle) {
        if self.blocks.is_empty() {
            self.blocks.push(vec![pack(h)]);
            return;
        }
        let b = &mut self.blocks[p.block];
        b.insert(p.off, pack(h));
        if b.len() > BLOCK {
            let tail = b.split_off(b.len() / 2);
            b.shrink_to_fit();
            self.blocks.insert(p.block + 1, tail);
        }
    }

    pub(super) fn remove(&mut self, p: Pos) {
        let b = &mut self.blocks[p.block];
        b.remove(p.off);
        if b.is_empty() {
            self.blocks.remove(p.block);
        }
    }

    /// Handles from `p` (inclusive) to the end.
    pub(super) fn forward(&self, p: Pos) -> impl Iterator<Item = Handle> + '_ {
        let first = self
            .blocks
            .get(p.block)
            .map(|b| &b[p.off.min(b.len())..])
            .unwrap_or(&[]);
        first
            .iter()
            .chain(self.blocks.iter().skip(p.block + 1).flatten())
            .map(unpack)
    }

    /// Handles before `p` (exclusive), last first.
    pub(super) fn backward(&self, p: Pos) -> impl Iterator<Item = Handle> + '_ {
        let first = self
            .blocks
            .get(p.block)
            .map(|b| &b[..p.off.min(b.len())])
            .unwrap_or(&[]);
        let earlier = &self.blocks[..p.block.min(self.blocks.len())];
        first
            .iter()
            .rev()
            .chain(earlier.iter().rev().flat_map(|b| b.iter().rev()))
            .map(unpack)
    }

    /// The handles from `lo` (inclusive) to `hi` (exclusive), as one slice per block in
    /// order (reversed, the walk backwards, each slice then read from its end).
    pub(super) fn slices(&self, lo: Pos, hi: Pos) -> impl DoubleEndedIterator<Item = &[Packed]> {
        let n = self.blocks.len();
        let last = (hi.block + 1).min(n);
        let first = lo.block.min(last);
        self.blocks[first..last]
            .iter()
            .enumerate()
            .map(move |(i, b)| {
                let at = first + i;
                let to = if at == hi.block {
                    hi.off.min(b.len())
                } else {
                    b.len()
                };
                let from = if at == lo.block { lo.off.min(to) } else { 0 };
                &b[from..to]
            })
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Vec<Packed>>()
            + self
                .blocks
                .iter()
                .map(|b| b.capacity() * std::mem::size_of::<Packed>())
                .sum::<usize>()
    }
}
