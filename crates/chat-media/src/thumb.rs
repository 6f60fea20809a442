//! Thumbnails: every accepted image is decoded in full (which also refuses an
//! image that only pretends to be one) and scaled to fit in 320 × 320, as JPEG.

use crate::sniff::Kind;
use crate::{MediaError, MediaResult};
use image::{ImageFormat, ImageReader, Limits};
use std::io::BufReader;
use std::path::Path;

pub const MAX_SIDE: u32 = 320;
/// The largest image the decoder accepts, per side and in decoded bytes.
const MAX_DIMENSION: u32 = 12_000;
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

fn format(kind: Kind) -> Option<ImageFormat> {
    Some(match kind {
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Png => ImageFormat::Png,
        Kind::Gif => ImageFormat::Gif,
        Kind::Webp => ImageFormat::WebP,
        _ => return None,
    })
}

/// The JPEG thumbnail of an image file, or `None` for other kinds. An image
/// that does not decode is refused.
pub fn make(path: &Path, kind: Kind) -> MediaResult<Option<Vec<u8>>> {
    let Some(fmt) = format(kind) else {
        return Ok(None);
    };
    let file = std::fs::File::open(path)?;
    let mut reader = ImageReader::with_format(BufReader::new(file), fmt);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| MediaError::Unsupported(format!("the image does not decode: {e}")))?;
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
        make(f.path(), kind)
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
