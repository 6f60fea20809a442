//! Thumbnails: every accepted image is decoded in full (which also refuses an
//! image that only pretends to be one) and scaled to fit in 320 × 320, as JPEG.
//!
//! A small file can declare a huge image (a 231 KB PNG of 9000 × 9000 pixels
//! decodes to 243 MB): the size the header declares is checked against
//! [`DecodeLimits`] before any pixel is decoded. How many decodes run at once
//! is bounded by the caller (`Blobs::decode_slots`).

use crate::sniff::Kind;
use crate::{MediaError, MediaResult};
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use std::io::BufReader;
use std::path::Path;

pub const MAX_SIDE: u32 = 320;
/// The longest side the decoder accepts, whatever the pixel budget.
const MAX_DIMENSION: u32 = 12_000;
/// What the decoder may allocate beyond the decoded image itself (its
/// buffers, the thumbnail).
const DECODE_SLACK_BYTES: u64 = 16 * 1024 * 1024;

/// The largest image that is decoded, checked on the header's declared size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Width × height.
    pub max_pixels: u64,
    /// The decoded image's bytes (pixels × bytes per pixel of its colour type).
    pub max_bytes: u64,
}

impl DecodeLimits {
    /// Limits for `max_pixels`, allowing 4 bytes per pixel (8-bit RGBA); a
    /// 16-bit image gets half as many pixels.
    pub fn for_pixels(max_pixels: u64) -> Self {
        Self {
            max_pixels,
            max_bytes: max_pixels.saturating_mul(4),
        }
    }
}

impl Default for DecodeLimits {
    /// 25 megapixels: a 6000 × 4000 camera photo; 100 MB decoded.
    fn default() -> Self {
        Self::for_pixels(25_000_000)
    }
}

fn format(kind: Kind) -> Option<ImageFormat> {
    Some(match kind {
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Png => ImageFormat::Png,
        Kind::Gif => ImageFormat::Gif,
        Kind::Webp => ImageFormat::WebP,
        _ => return None,
    })
}

fn too_large(limits: &DecodeLimits) -> MediaError {
    MediaError::ImageTooLarge {
        max_pixels: limits.max_pixels,
    }
}

fn decode_error(e: ImageError, limits: &DecodeLimits) -> MediaError {
    match e {
        ImageError::Limits(_) => too_large(limits),
        e => MediaError::Unsupported(format!("the image does not decode: {e}")),
    }
}

/// The JPEG thumbnail of an image file, or `None` for other kinds. An image
/// that does not decode is refused, and so is one whose header declares more
/// than `limits` ([`MediaError::ImageTooLarge`], before decoding anything).
pub fn make(path: &Path, kind: Kind, limits: &DecodeLimits) -> MediaResult<Option<Vec<u8>>> {
    let Some(fmt) = format(kind) else {
        return Ok(None);
    };
    let file = std::fs::File::open(path)?;
    let mut reader = ImageReader::with_format(BufReader::new(file), fmt);
    let mut bounds = Limits::default();
    bounds.max_image_width = Some(MAX_DIMENSION);
    bounds.max_image_height = Some(MAX_DIMENSION);
    // The second line of defence: the decoder's own allocations.
    bounds.max_alloc = Some(limits.max_bytes.saturating_add(DECODE_SLACK_BYTES));
    reader.limits(bounds);
    // Reads the header only.
    let decoder = reader.into_decoder().map_err(|e| decode_error(e, limits))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > limits.max_pixels || decoder.total_bytes() > limits.max_bytes {
        return Err(too_large(limits));
    }
    let img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, limits))?;
    let thumb = img.thumbnail(MAX_SIDE, MAX_SIDE).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&thumb)
        .map_err(|e| MediaError::Unsupported(format!("no thumbnail: {e}")))?;
    Ok(Some(out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::samples;

    fn thumb_of(bytes: &[u8], kind: Kind) -> MediaResult<Option<Vec<u8>>> {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        make(f.path(), kind, &DecodeLimits::default())
    }

    /// A PNG whose header declares `w` × `h` pixels, with one tiny IDAT: what
    /// a decompression bomb looks like before its data.
    fn declared_png(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend((data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend(kind);
            out.extend(data);
            let crc = crc32(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
        fn crc32(bytes: &[u8]) -> u32 {
            let mut c = 0xffff_ffffu32;
            for &b in bytes {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 == 1 {
                        0xedb8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        let mut ihdr = Vec::new();
        ihdr.extend(w.to_be_bytes());
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(
            &mut out,
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn a_declared_size_over_the_limit_is_refused_before_decoding() {
        // 9000 × 9000: 81 megapixels, 243 MB decoded, within the decoder's
        // old per-side and allocation limits.
        let err = thumb_of(&declared_png(9000, 9000), Kind::Png).unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::ImageTooLarge {
                    max_pixels: 25_000_000
                }
            ),
            "{err:?}"
        );
        // A real image just over a configured budget is refused, one within it is not.
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), samples::png(100, 100)).unwrap();
        let small = DecodeLimits::for_pixels(9_999);
        assert!(matches!(
            make(f.path(), Kind::Png, &small),
            Err(MediaError::ImageTooLarge { max_pixels: 9_999 })
        ));
        let enough = DecodeLimits::for_pixels(10_000);
        assert!(make(f.path(), Kind::Png, &enough).unwrap().is_some());
        // Bytes count too: a 16-bit RGBA image takes 8 bytes per pixel.
        let tight = DecodeLimits {
            max_pixels: 10_000,
            max_bytes: 10_000 * 3,
        };
        assert!(
            make(f.path(), Kind::Png, &tight).unwrap().is_some(),
            "RGB8 fits in 3 bytes a pixel"
        );
        let tighter = DecodeLimits {
            max_pixels: 10_000,
            max_bytes: 10_000 * 3 - 1,
        };
        assert!(matches!(
            make(f.path(), Kind::Png, &tighter),
            Err(MediaError::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn thumbnails_fit_in_320_and_keep_the_aspect_ratio() {
        let t = thumb_of(&samples::png(1000, 500), Kind::Png)
            .unwrap()
            .unwrap();
        let img = image::load_from_memory_with_format(&t, ImageFormat::Jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (320, 160));
        let t = thumb_of(&samples::jpeg(200, 900), Kind::Jpeg)
            .unwrap()
            .unwrap();
        let img = image::load_from_memory(&t).unwrap();
        assert!(img.height() == 320 && img.width() <= 72);
        for (b, k) in [(samples::gif(), Kind::Gif), (samples::webp(), Kind::Webp)] {
            let t = thumb_of(&b, k).unwrap().unwrap();
            let img = image::load_from_memory(&t).unwrap();
            assert!(img.width() <= MAX_SIDE && img.height() <= MAX_SIDE);
        }
    }

    #[test]
    fn no_thumbnail_for_other_kinds_and_refusal_for_broken_images() {
        assert!(thumb_of(&samples::pdf(), Kind::Pdf).unwrap().is_none());
        let mut broken = samples::png(50, 50);
        broken.truncate(60);
        assert!(thumb_of(&broken, Kind::Png).is_err());
    }
}
