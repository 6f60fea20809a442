//! What a file is, decided from its bytes alone: never from its name or the
//! type the client declared. Eight kinds are accepted; everything else, and a
//! file that is one of them *and* something else (a polyglot: an image with an
//! archive appended, a video whose boxes do not add up to the file), is refused.

use crate::{MediaError, MediaResult};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How many leading bytes [`sniff_head`] looks at.
pub const HEAD_LEN: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    Pdf,
    Mp4,
    Webm,
    Text,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Mp4 => "video/mp4",
            Kind::Webm => "video/webm",
            Kind::Text => "text/plain",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Kind> {
        Some(match mime {
            "image/jpeg" => Kind::Jpeg,
            "image/png" => Kind::Png,
            "image/gif" => Kind::Gif,
            "image/webp" => Kind::Webp,
            "application/pdf" => Kind::Pdf,
            "video/mp4" => Kind::Mp4,
            "video/webm" => Kind::Webm,
            "text/plain" => Kind::Text,
            _ => return None,
        })
    }

    pub fn is_image(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp)
    }

    /// Shown inline by browsers (images, video); everything else is a download.
    pub fn is_inline(self) -> bool {
        self.is_image() || matches!(self, Kind::Mp4 | Kind::Webm)
    }

    /// File name extensions that fit the kind; the first is the canonical one.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Jpeg => &["jpg", "jpeg"],
            Kind::Png => &["png"],
            Kind::Gif => &["gif"],
            Kind::Webp => &["webp"],
            Kind::Pdf => &["pdf"],
            Kind::Mp4 => &["mp4", "m4v"],
            Kind::Webm => &["webm"],
            Kind::Text => &["txt", "md", "csv", "log"],
        }
    }
}

fn unsupported(msg: &str) -> MediaError {
    MediaError::Unsupported(msg.to_owned())
}

/// The candidate kind from the first bytes ([`HEAD_LEN`] or the whole file if
/// shorter). A `Text` answer still needs [`verify`] over the whole file.
pub fn sniff_head(head: &[u8]) -> MediaResult<Kind> {
    if head.is_empty() {
        return Err(unsupported("the file is empty"));
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML (Matroska); `verify` insists on the webm doc type. `infer` only
        // recognises WebM files longer than 256 bytes.
        return Ok(Kind::Webm);
    }
    match infer::get(head) {
        Some(t) => match t.mime_type() {
            "image/jpeg" => Ok(Kind::Jpeg),
            "image/png" => Ok(Kind::Png),
            "image/gif" => Ok(Kind::Gif),
            "image/webp" => Ok(Kind::Webp),
            "application/pdf" => Ok(Kind::Pdf),
            "video/mp4" => Ok(Kind::Mp4),
            "video/webm" => Ok(Kind::Webm),
            other => Err(MediaError::Unsupported(format!(
                "files of type {other} are not accepted"
            ))),
        },
        None => Ok(Kind::Text),
    }
}

/// Checks the whole file against the candidate kind: structure that must add
/// up to the file's length, nothing appended, text that is text. Images are
/// also fully decoded by the thumbnailer, which refuses what does not decode.
pub fn verify(path: &Path, kind: Kind) -> MediaResult<()> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if has_zip_trailer(&mut f, len)? {
        return Err(unsupported("the file also contains an archive"));
    }
    match kind {
        Kind::Text => verify_text(&mut f),
        Kind::Png => {
            let tail = read_tail(&mut f, len, 12)?;
            if tail != [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82] {
                return Err(unsupported("a PNG must end with its IEND chunk"));
            }
            Ok(())
        }
        Kind::Jpeg => {
            // After the end-of-image marker only padding may follow.
            let tail = read_tail(&mut f, len, 1024)?;
            let ok = tail
                .windows(2)
                .rposition(|w| w == [0xFF, 0xD9])
                .is_some_and(|i| tail[i + 2..].iter().all(|&b| b == 0 || b == 0xFF));
            if !ok {
                return Err(unsupported("data follows the end of the JPEG image"));
            }
            Ok(())
        }
        Kind::Gif => {
            let tail = read_tail(&mut f, len, 1)?;
            if tail != [0x3B] {
                return Err(unsupported("data follows the end of the GIF image"));
            }
            Ok(())
        }
        Kind::Webp => {
            let mut h = [0u8; 12];
            f.seek(SeekFrom::Start(0))?;
            f.read_exact(&mut h)?;
            let riff = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
            if riff + 8 != len && riff + 9 != len {
                return Err(unsupported(
                    "the WebP container does not match the file size",
                ));
            }
            Ok(())
        }
        Kind::Pdf => {
            let mut h = [0u8; 8];
            f.seek(SeekFrom::Start(0))?;
            f.read_exact(&mut h)?;
            if !(h.starts_with(b"%PDF-1.") || h.starts_with(b"%PDF-2.")) {
                return Err(unsupported("not a PDF document"));
            }
            let tail = read_tail(&mut f, len, 1024)?;
            if !tail.windows(5).any(|w| w == b"%%EOF") {
                return Err(unsupported("the PDF document is truncated"));
            }
            Ok(())
        }
        Kind::Mp4 => verify_mp4(&mut f, len),
        Kind::Webm => verify_webm(&mut f, len),
    }
}

fn read_tail(f: &mut File, len: u64, n: u64) -> std::io::Result<Vec<u8>> {
    let n = n.min(len);
    f.seek(SeekFrom::Start(len - n))?;
    let mut buf = vec![0; n as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// A ZIP end-of-central-directory record whose comment runs exactly to the end
/// of the file: the signature of a GIFAR-style image + archive polyglot.
fn has_zip_trailer(f: &mut File, len: u64) -> std::io::Result<bool> {
    let tail = read_tail(f, len, 65_535 + 22)?;
    let base = len - tail.len() as u64;
    for i in (0..tail.len().saturating_sub(21)).rev() {
        if tail[i..i + 4] == [b'P', b'K', 5, 6] {
            let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as u64;
            if base + i as u64 + 22 + comment == len {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Valid UTF-8 throughout, no NUL, and no other control characters than
/// tab, newline, carriage return and form feed.
fn verify_text(f: &mut File) -> MediaResult<()> {
    f.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    loop {
        let n = f.read(&mut buf[carry..])?;
        let end = carry + n;
        if n == 0 {
            if carry > 0 {
                return Err(unsupported("the text is not valid UTF-8"));
            }
            return Ok(());
        }
        let valid_to = match std::str::from_utf8(&buf[..end]) {
            Ok(_) => end,
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(unsupported("the file is neither text nor an accepted type")),
        };
        if buf[..valid_to]
            .iter()
            .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C) || b == 0x7F)
        {
            return Err(unsupported("the file is neither text nor an accepted type"));
        }
        buf.copy_within(valid_to..end, 0);
        carry = end - valid_to;
        if carry >= 4 {
            return Err(unsupported("the text is not valid UTF-8"));
        }
    }
}

/// ISO BMFF: a `ftyp` box first, then top-level boxes whose sizes add up to
/// exactly the file's length.
fn verify_mp4(f: &mut File, len: u64) -> MediaResult<()> {
    let mut pos = 0u64;
    let mut first = true;
    let mut boxes = 0;
    while pos < len {
        boxes += 1;
        if boxes > 10_000 || len - pos < 8 {
            return Err(unsupported("the MP4 boxes do not add up to the file"));
        }
        f.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 16];
        let avail = (len - pos).min(16) as usize;
        f.read_exact(&mut h[..avail])?;
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let typ = &h[4..8];
        if first && typ != b"ftyp" {
            return Err(unsupported("an MP4 file starts with its ftyp box"));
        }
        first = false;
        if !typ
            .iter()
            .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == 0xA9)
        {
            return Err(unsupported("the MP4 boxes do not add up to the file"));
        }
        let size = match size32 {
            0 => len - pos,
            1 => {
                if avail < 16 {
                    return Err(unsupported("the MP4 boxes do not add up to the file"));
                }
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]])
            }
            s => s,
        };
        if size < 8 || size > len - pos {
            return Err(unsupported("the MP4 boxes do not add up to the file"));
        }
        pos += size;
    }
    Ok(())
}

/// Reads an EBML variable-length integer at the current position: (value, length, all-ones).
fn read_vint(f: &mut File, mask_marker: bool) -> MediaResult<(u64, u32, bool)> {
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    let n = b[0].leading_zeros() + 1;
    if n > 8 {
        return Err(unsupported("not a WebM file"));
    }
    let mut v = if mask_marker {
        (b[0] as u64) & ((1u64 << (8 - n)) - 1)
    } else {
        b[0] as u64
    };
    let mut ones = (b[0] as u64) & ((1u64 << (8 - n)) - 1) == (1u64 << (8 - n)) - 1;
    for _ in 1..n {
        f.read_exact(&mut b)?;
        v = (v << 8) | b[0] as u64;
        ones &= b[0] == 0xFF;
    }
    Ok((v, n, ones))
}

/// Matroska/WebM: the EBML header names the `webm` doc type and a Segment
/// follows that, when its size is known, ends exactly at the end of the file.
fn verify_webm(f: &mut File, len: u64) -> MediaResult<()> {
    f.seek(SeekFrom::Start(0))?;
    let (id, id_len, _) = read_vint(f, false)?;
    if id != 0x1A45_DFA3 {
        return Err(unsupported("not a WebM file"));
    }
    let (hsize, s_len, _) = read_vint(f, true)?;
    let body = (id_len + s_len) as u64;
    if hsize > 4096 || body + hsize > len {
        return Err(unsupported("not a WebM file"));
    }
    let mut header = vec![0u8; hsize as usize];
    f.read_exact(&mut header)?;
    if !header.windows(4).any(|w| w == b"webm") {
        return Err(unsupported("only the WebM flavour of Matroska is accepted"));
    }
    let seg_start = body + hsize;
    let (seg_id, seg_id_len, _) = read_vint(f, false)?;
    if seg_id != 0x1853_8067 {
        return Err(unsupported("a WebM file needs a Segment after its header"));
    }
    let (seg_size, seg_size_len, unknown) = read_vint(f, true)?;
    if !unknown {
        let end = seg_start + (seg_id_len + seg_size_len) as u64 + seg_size;
        if end != len {
            return Err(unsupported("the WebM segment does not match the file size"));
        }
    }
    Ok(())
}

/// Sniffs and verifies a file on disk in one go.
pub fn identify(path: &Path) -> MediaResult<Kind> {
    let mut f = File::open(path)?;
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut f).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    let kind = sniff_head(&head)?;
    verify(path, kind)?;
    Ok(kind)
}

#[cfg(test)]
pub(crate) mod samples {
    //! Small valid files of every kind, made in code.

    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 99])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, 10, (y % 256) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    pub fn gif() -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([1, 2, 3, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Gif).unwrap();
        out.into_inner()
    }

    pub fn webp() -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([1, 2, 3, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::WebP).unwrap();
        out.into_inner()
    }

    pub fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
    }

    pub fn mp4() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&24u32.to_be_bytes());
        v.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
        v.extend_from_slice(&16u32.to_be_bytes());
        v.extend_from_slice(b"mdat01234567");
        v
    }

    pub fn webm() -> Vec<u8> {
        let mut v = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | 7, 0x42, 0x82, 0x84];
        v.extend_from_slice(b"webm");
        v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x80 | 4, 1, 2, 3, 4]);
        v
    }

    /// A Windows executable's first bytes.
    pub fn exe() -> Vec<u8> {
        let mut v = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
        v.resize(256, 0);
        v[0x3c] = 0x80;
        v[0x80..0x84].copy_from_slice(b"PE\0\0");
        v
    }

    /// An empty ZIP archive (just its end-of-central-directory record).
    pub fn zip_eocd() -> Vec<u8> {
        let mut v = vec![b'P', b'K', 5, 6];
        v.resize(22, 0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    fn check(bytes: &[u8]) -> MediaResult<Kind> {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        identify(f.path())
    }

    #[test]
    fn every_accepted_kind_is_recognised_by_content() {
        assert_eq!(check(&png(3, 3)).unwrap(), Kind::Png);
        assert_eq!(check(&jpeg(8, 8)).unwrap(), Kind::Jpeg);
        assert_eq!(check(&gif()).unwrap(), Kind::Gif);
        assert_eq!(check(&webp()).unwrap(), Kind::Webp);
        assert_eq!(check(&pdf()).unwrap(), Kind::Pdf);
        assert_eq!(check(&mp4()).unwrap(), Kind::Mp4);
        assert_eq!(check(&webm()).unwrap(), Kind::Webm);
        assert_eq!(check("héllo\r\n\tworld\n".as_bytes()).unwrap(), Kind::Text);
    }

    #[test]
    fn an_executable_is_refused_whatever_its_name() {
        assert!(matches!(check(&exe()), Err(MediaError::Unsupported(_))));
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.resize(64, 0);
        assert!(check(&elf).is_err());
    }

    #[test]
    fn binary_and_broken_text_is_refused() {
        assert!(check(b"abc\0def").is_err());
        assert!(check(b"abc\xff\xfe").is_err());
        assert!(check(b"ends mid-character \xc3").is_err());
        assert!(check(b"").is_err());
        assert!(check(&zip_eocd()).is_err(), "a bare zip");
    }

    #[test]
    fn polyglots_are_refused() {
        // GIFAR-style: a valid image with an archive appended
        for img in [png(3, 3), gif(), jpeg(8, 8)] {
            let mut p = img.clone();
            p.extend_from_slice(&zip_eocd());
            assert!(check(&p).is_err(), "image + zip");
        }
        // PNG with HTML after IEND
        let mut p = png(3, 3);
        p.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert!(check(&p).is_err(), "png + html");
        // JPEG with script after EOI
        let mut j = jpeg(8, 8);
        j.extend_from_slice(b"<script>alert(1)</script>");
        assert!(check(&j).is_err(), "jpeg + html");
        // WebP with trailing bytes
        let mut w = webp();
        w.extend_from_slice(b"MZ-payload");
        assert!(check(&w).is_err(), "webp + data");
        // MP4 whose boxes do not cover the file
        let mut m = mp4();
        m.extend_from_slice(b"<html>");
        assert!(check(&m).is_err(), "mp4 + data");
        // WebM segment of known size followed by more
        let mut wm = webm();
        wm.extend_from_slice(b"junk");
        assert!(check(&wm).is_err(), "webm + data");
        // text that is really a zip with a text-looking start is not text
        let mut t = b"hello".to_vec();
        t.extend_from_slice(&zip_eocd());
        assert!(check(&t).is_err());
    }

    #[test]
    fn a_png_signature_with_a_bad_header_is_not_a_png() {
        // the 8-byte signature, then no IHDR: infer says png, verification says no
        let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
        p.extend_from_slice(b"<html>not an image</html>");
        assert!(check(&p).is_err());
    }
}
