//! The patient's finger signature on the consent page: the strokes drawn
//! on the pad, the path the pad shows while the finger moves, and the PNG
//! that goes with the consent. Plain Rust: no UI and no I/O.
//!
//! Strokes and the PNG are patient data. Nothing here logs them, and
//! `Debug` shows only counts.

use std::fmt;

/// The width of the PNG, in pixels, whatever the pad's size.
pub const PNG_WIDTH: u32 = 600;
/// The height of the PNG, in pixels.
pub const PNG_HEIGHT: u32 = 200;
/// The width of the ink in the PNG, in pixels.
pub const PNG_INK_WIDTH: f32 = 4.0;
/// The most points one signature keeps; later points are dropped, so a
/// finger left scribbling cannot grow memory or the PNG without bound.
pub const MAX_POINTS: usize = 4_000;
/// The side of the square box the pad's path commands are written in;
/// the pad stretches that box over itself.
pub const PATH_BOX: f32 = 1000.0;
/// The least ink, in pad heights, that counts as a signature: an
/// accidental touch or a short tick is not one.
pub const MIN_INK: f32 = 0.5;
/// A move shorter than this, in pad pixels, adds no point.
const MIN_STEP_PX: f32 = 2.0;

/// Why a signature cannot be turned into a PNG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Nothing was drawn.
    #[error("nothing was drawn on the signature pad")]
    Empty,
    /// Too little was drawn to be a signature.
    #[error("the drawing on the signature pad is too short to be a signature")]
    TooShort,
    /// The PNG encoder failed.
    #[error("the signature could not be encoded as PNG: {0}")]
    Png(String),
}

/// A point on the pad, as fractions of its width and height (0 to 1).
#[derive(Clone, Copy, PartialEq)]
struct PadPoint {
    x: f32,
    y: f32,
}

/// What the finger drew on the pad: strokes of points, kept relative to
/// the pad so the drawing fits any output size.
#[derive(Clone, Default, PartialEq)]
pub struct Signature {
    /// One stroke per touch, in order.
    strokes: Vec<Vec<PadPoint>>,
    /// The pad's size in pixels at the last touch: moves are measured in it.
    pad: (f32, f32),
    /// Points kept over all strokes, bounded by [`MAX_POINTS`].
    points: usize,
    /// Whether the finger is down.
    drawing: bool,
}

impl fmt::Debug for Signature {
    /// Counts only: the strokes are patient data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("strokes", &self.strokes.len())
            .field("points", &self.points)
            .finish()
    }
}

impl Signature {
    /// An empty pad.
    pub fn new() -> Self {
        Self::default()
    }

    /// The finger touched the pad at (`x`, `y`), in pixels from the
    /// pad's top left, on a pad `width` by `height` pixels. A pad with no
    /// area, or a position that is not a number, is ignored.
    pub fn pen_down(&mut self, x: f32, y: f32, width: f32, height: f32) -> bool {
        let sized = width.is_finite() && height.is_finite() && width >= 1.0 && height >= 1.0;
        if !sized || self.points >= MAX_POINTS {
            self.drawing = false;
            return false;
        }
        self.pad = (width, height);
        let Some(p) = self.to_pad(x, y) else {
            self.drawing = false;
            return false;
        };
        self.strokes.push(vec![p]);
        self.points += 1;
        self.drawing = true;
        true
    }

    /// The finger moved to (`x`, `y`) while down. Returns whether the
    /// drawing changed: tiny moves, moves with the finger up and points
    /// past [`MAX_POINTS`] add nothing. A point off the pad is kept on its
    /// edge.
    pub fn pen_move(&mut self, x: f32, y: f32) -> bool {
        if !self.drawing || self.points >= MAX_POINTS {
            return false;
        }
        let Some(p) = self.to_pad(x, y) else {
            return false;
        };
        let (w, h) = self.pad;
        let Some(stroke) = self.strokes.last_mut() else {
            return false;
        };
        if let Some(last) = stroke.last() {
            let step = ((p.x - last.x) * w).hypot((p.y - last.y) * h);
            if step < MIN_STEP_PX {
                return false;
            }
        }
        stroke.push(p);
        self.points += 1;
        true
    }

    /// The finger left the pad.
    pub fn pen_up(&mut self) {
        self.drawing = false;
    }

    /// Wipes the pad.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether nothing was drawn.
    pub fn is_empty(&self) -> bool {
        self.strokes.is_empty()
    }

    /// How much ink was drawn, in pad heights.
    pub fn ink(&self) -> f32 {
        let (w, h) = self.pad;
        if h <= 0.0 {
            return 0.0;
        }
        let aspect = w / h;
        self.strokes
            .iter()
            .flat_map(|s| s.windows(2))
            .map(|pair| ((pair[1].x - pair[0].x) * aspect).hypot(pair[1].y - pair[0].y))
            .sum()
    }

    /// Whether enough was drawn to count as a signature.
    pub fn is_enough(&self) -> bool {
        self.ink() >= MIN_INK
    }

    /// The drawing as Slint path commands (`M x y L x y …`), in a
    /// [`PATH_BOX`]-sided square that the pad stretches over itself. A
    /// stroke of one point draws a dot.
    pub fn path_commands(&self) -> String {
        let mut out = String::new();
        for stroke in &self.strokes {
            for (i, p) in stroke.iter().enumerate() {
                let (x, y) = (p.x * PATH_BOX, p.y * PATH_BOX);
                let op = if i == 0 { 'M' } else { 'L' };
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&format!("{op} {x:.1} {y:.1}"));
            }
            if let [only] = stroke.as_slice() {
                // A zero-length line draws nothing: a dot is a short one.
                out.push_str(&format!(
                    " L {:.1} {:.1}",
                    only.x * PATH_BOX + 1.0,
                    only.y * PATH_BOX
                ));
            }
        }
        out
    }

    /// The signature as a PNG: black anti-aliased lines on white, 8-bit
    /// grey, [`PNG_WIDTH`] by [`PNG_HEIGHT`]. The drawing keeps its shape:
    /// it is scaled evenly to fit and centred. Refused when nothing, or
    /// too little, was drawn.
    pub fn to_png(&self) -> Result<Vec<u8>, SignatureError> {
        if self.is_empty() {
            return Err(SignatureError::Empty);
        }
        if !self.is_enough() {
            return Err(SignatureError::TooShort);
        }
        let pixels = self.rasterize();
        encode_grey(&pixels, PNG_WIDTH, PNG_HEIGHT)
    }

    /// A position in pad pixels as fractions of the pad, clamped to it.
    fn to_pad(&self, x: f32, y: f32) -> Option<PadPoint> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let (w, h) = self.pad;
        Some(PadPoint {
            x: (x / w).clamp(0.0, 1.0),
            y: (y / h).clamp(0.0, 1.0),
        })
    }

    /// The grey pixels of the PNG, row by row: 255 white, 0 full ink.
    fn rasterize(&self) -> Vec<u8> {
        let (width, height) = (PNG_WIDTH as f32, PNG_HEIGHT as f32);
        let radius = PNG_INK_WIDTH / 2.0;
        // The pad's box inside the image, with room for the ink at its edges.
        let margin = radius + 2.0;
        let (room_w, room_h) = (width - 2.0 * margin, height - 2.0 * margin);
        let (pad_w, pad_h) = self.pad;
        let scale = (room_w / pad_w).min(room_h / pad_h);
        let (box_w, box_h) = (pad_w * scale, pad_h * scale);
        let (left, top) = ((width - box_w) / 2.0, (height - box_h) / 2.0);
        let place = |p: &PadPoint| (left + p.x * box_w, top + p.y * box_h);

        let mut ink = vec![0u8; (PNG_WIDTH * PNG_HEIGHT) as usize];
        for stroke in &self.strokes {
            let placed: Vec<(f32, f32)> = stroke.iter().map(place).collect();
            if let [only] = placed.as_slice() {
                draw_segment(&mut ink, *only, *only, radius);
            }
            for pair in placed.windows(2) {
                draw_segment(&mut ink, pair[0], pair[1], radius);
            }
        }
        ink.iter().map(|&c| 255 - c).collect()
    }
}

/// Adds a round-capped line from `a` to `b`, `radius` thick on each side,
/// to the ink coverage `ink` (one byte a pixel, 255 full), anti-aliased by
/// the distance from each pixel's centre to the line.
fn draw_segment(ink: &mut [u8], a: (f32, f32), b: (f32, f32), radius: f32) {
    let reach = radius + 1.0;
    let x0 = (a.0.min(b.0) - reach).floor().max(0.0) as u32;
    let y0 = (a.1.min(b.1) - reach).floor().max(0.0) as u32;
    let x1 = ((a.0.max(b.0) + reach).ceil() as u32).min(PNG_WIDTH);
    let y1 = ((a.1.max(b.1) + reach).ceil() as u32).min(PNG_HEIGHT);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    for py in y0..y1 {
        for px in x0..x1 {
            let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
            let t = if len2 > 0.0 {
                (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let d = (cx - (a.0 + t * dx)).hypot(cy - (a.1 + t * dy));
            let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
            if cover > 0.0 {
                let i = (py * PNG_WIDTH + px) as usize;
                let value = (cover * 255.0).round() as u8;
                if value > ink[i] {
                    ink[i] = value;
                }
            }
        }
    }
}

/// Encodes 8-bit grey pixels as a PNG.
fn encode_grey(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, SignatureError> {
    let png_err = |e: png::EncodingError| SignatureError::Png(e.to_string());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(pixels).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, grey pixels).
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a known size")];
        let info = reader.next_frame(&mut buf).expect("one frame");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> u8 {
        img.2[(y * img.0 + x) as usize]
    }

    /// A line across the middle of a 900 x 300 pad, left to right.
    fn middle_line() -> Signature {
        let mut s = Signature::new();
        assert!(s.pen_down(90.0, 150.0, 900.0, 300.0));
        for x in (100..=810).step_by(10) {
            s.pen_move(x as f32, 150.0);
        }
        s.pen_up();
        s
    }

    #[test]
    fn an_empty_pad_is_refused() {
        assert_eq!(Signature::new().to_png(), Err(SignatureError::Empty));
        let mut s = middle_line();
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.to_png(), Err(SignatureError::Empty));
        assert_eq!(s.path_commands(), "");
    }

    #[test]
    fn a_tap_or_a_tick_is_not_a_signature() {
        let mut s = Signature::new();
        s.pen_down(100.0, 100.0, 900.0, 300.0);
        s.pen_up();
        assert_eq!(s.to_png(), Err(SignatureError::TooShort));
        s.pen_down(100.0, 100.0, 900.0, 300.0);
        s.pen_move(200.0, 100.0);
        s.pen_up();
        assert!(s.ink() > 0.3 && s.ink() < MIN_INK, "ink {}", s.ink());
        assert_eq!(s.to_png(), Err(SignatureError::TooShort));
        s.pen_down(100.0, 200.0, 900.0, 300.0);
        s.pen_move(200.0, 200.0);
        s.pen_up();
        assert!(s.is_enough(), "two short strokes add up: {}", s.ink());
        assert!(s.to_png().is_ok());
    }

    #[test]
    fn a_drawn_line_is_ink_in_the_right_place_and_nowhere_else() {
        let png = middle_line().to_png().unwrap();
        let img = decode(&png);
        assert_eq!((img.0, img.1), (PNG_WIDTH, PNG_HEIGHT));
        // The 900 x 300 pad fills the image's width less its margins: the
        // line runs along the middle row from 10 % to 90 % of the width.
        let mid = PNG_HEIGHT / 2;
        for x in [80, 150, 300, 450, 520] {
            assert!(pixel(&img, x, mid) < 64, "ink at ({x}, {mid})");
        }
        for (x, y) in [
            (300, 20),
            (300, 180),
            (10, mid),
            (590, mid),
            (300, mid + 10),
        ] {
            assert_eq!(pixel(&img, x, y), 255, "white at ({x}, {y})");
        }
        // Anti-aliased: the round ends have grey between black and white.
        assert!(img.2.iter().any(|&v| v > 0 && v < 255), "grey at the ends");
        // The pad maps to 564 x 188 pixels, so the line is 451 long.
        let dark = img.2.iter().filter(|&&v| v < 128).count();
        let expected = (451.0 * PNG_INK_WIDTH) as usize;
        assert!(
            dark > expected / 2 && dark < expected * 2,
            "{dark} dark pixels for a {expected}-pixel line"
        );
    }

    #[test]
    fn the_drawing_keeps_its_shape_on_any_pad() {
        // A tall pad: a vertical line down its middle stays in the middle
        // of the image, scaled evenly rather than stretched.
        let mut s = Signature::new();
        s.pen_down(200.0, 0.0, 400.0, 400.0);
        s.pen_move(200.0, 400.0);
        s.pen_up();
        let img = decode(&s.to_png().unwrap());
        let centre = PNG_WIDTH / 2;
        assert!(pixel(&img, centre, PNG_HEIGHT / 2) < 64);
        assert_eq!(pixel(&img, centre - 120, PNG_HEIGHT / 2), 255);
        assert_eq!(pixel(&img, centre + 120, PNG_HEIGHT / 2), 255);
    }

    #[test]
    fn a_finger_off_the_pad_draws_on_its_edge() {
        let mut s = Signature::new();
        s.pen_down(450.0, 150.0, 900.0, 300.0);
        s.pen_move(2000.0, 150.0);
        s.pen_move(f32::NAN, 10.0);
        s.pen_up();
        assert_eq!(s.path_commands(), "M 500.0 500.0 L 1000.0 500.0");
        assert!(s.to_png().is_ok());
        // A pad with no size takes no touch.
        let mut t = Signature::new();
        assert!(!t.pen_down(1.0, 1.0, 0.0, 300.0));
        assert!(!t.pen_move(5.0, 5.0));
        assert!(t.is_empty());
    }

    #[test]
    fn moves_with_the_finger_up_and_tiny_moves_add_nothing() {
        let mut s = Signature::new();
        assert!(!s.pen_move(10.0, 10.0));
        s.pen_down(10.0, 10.0, 900.0, 300.0);
        assert!(!s.pen_move(11.0, 10.5), "under two pixels");
        assert!(s.pen_move(20.0, 10.0));
        s.pen_up();
        assert!(!s.pen_move(40.0, 10.0));
        assert_eq!(s.path_commands().matches('L').count(), 1);
    }

    #[test]
    fn the_path_follows_the_strokes_and_a_dot_shows() {
        let mut s = Signature::new();
        s.pen_down(0.0, 0.0, 200.0, 100.0);
        s.pen_move(100.0, 50.0);
        s.pen_up();
        s.pen_down(200.0, 100.0, 200.0, 100.0);
        s.pen_up();
        assert_eq!(
            s.path_commands(),
            "M 0.0 0.0 L 500.0 500.0 M 1000.0 1000.0 L 1001.0 1000.0"
        );
    }

    #[test]
    fn a_scribble_is_bounded_in_points_and_in_size() {
        let mut s = Signature::new();
        let mut accepted = 0;
        for stroke in 0..100 {
            s.pen_down(0.0, (stroke % 30) as f32 * 10.0, 900.0, 300.0);
            accepted += 1;
            for i in 0..200 {
                // A zigzag over the whole pad: the worst case for the PNG.
                let x = (i * 37 % 900) as f32;
                let y = ((i * 53 + stroke * 7) % 300) as f32;
                if s.pen_move(x, y) {
                    accepted += 1;
                }
            }
            s.pen_up();
        }
        assert!(accepted > MAX_POINTS, "the test drew past the bound");
        assert_eq!(
            format!("{s:?}"),
            format!(
                "Signature {{ strokes: {}, points: {MAX_POINTS} }}",
                s.strokes.len()
            )
        );
        let png = s.to_png().unwrap();
        let base64_len = png.len().div_ceil(3) * 4;
        println!("the densest signature is {} bytes of PNG", png.len());
        assert!(
            base64_len < 160 * 1024,
            "{base64_len} bytes of base64, well under 256 KiB"
        );
        let img = decode(&png);
        assert_eq!((img.0, img.1), (PNG_WIDTH, PNG_HEIGHT));
    }
}
