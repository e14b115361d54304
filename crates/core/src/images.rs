//! Images people upload (avatars, and previews of pictures they share), decoded under limits and re-encoded, so what is served is an image this
//! server made: a file that only starts like a PNG (an HTML page behind a PNG signature, say) does not
//! decode, and one that declares 100,000 × 100,000 pixels is refused before anything that size is allocated.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageError, ImageReader, Limits};

use crate::Error;
use crate::validate::ImageFormat;

/// Most pixels an uploaded image may have: 40 megapixels, a large phone photo.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Longest side an uploaded image may have.
const MAX_SIDE: u32 = 12_000;
/// Most memory one decode may take (40 megapixels of RGBA, and room for the decoder's own buffers).
const MAX_DECODE_BYTES: u64 = 192 * 1024 * 1024;
/// An avatar is shown small: it is stored at most this many pixels wide and high.
pub const AVATAR_SIDE: u32 = 256;
/// A picture in a conversation is previewed at most this many pixels wide and high.
pub const PREVIEW_SIDE: u32 = 400;
const JPEG_QUALITY: u8 = 85;

/// An image as this server encoded it.
pub struct Encoded {
    pub format: ImageFormat,
    pub bytes: Vec<u8>,
}

/// Decodes `bytes` (PNG, JPEG, WebP or GIF, told by their content), shrinks the picture to fit
/// `AVATAR_SIDE` and encodes it again: as PNG if a pixel is transparent, as JPEG if not. An animated GIF keeps its
/// first frame. This is CPU work of up to a few hundred milliseconds: run it off the async runtime.
pub fn avatar(bytes: &[u8]) -> Result<Encoded, Error> {
    encode(&shrink(decode(bytes)?, AVATAR_SIDE))
}

/// A picture someone shared, and its preview.
pub struct Preview {
    pub width: u32,
    pub height: u32,
    /// Made by this server: nothing of the original's metadata (EXIF, a location) is in it.
    pub thumbnail: Encoded,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
}

/// Decodes a shared picture and makes its preview, at most `PREVIEW_SIDE` a side. CPU work: run it off
/// the async runtime.
pub fn preview(bytes: &[u8]) -> Result<Preview, Error> {
    let picture = decode(bytes)?;
    let (width, height) = (picture.width(), picture.height());
    let small = shrink(picture, PREVIEW_SIDE);
    let (thumbnail_width, thumbnail_height) = (small.width(), small.height());
    Ok(Preview {
        width,
        height,
        thumbnail: encode(&small)?,
        thumbnail_width,
        thumbnail_height,
    })
}

/// The picture in `bytes`, its header read first: the size it declares is refused before the decoder
/// allocates for it.
fn decode(bytes: &[u8]) -> Result<DynamicImage, Error> {
    let format = match ImageFormat::sniff(bytes).ok_or_else(unsupported)? {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
    };
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        reader
    };
    let (width, height) = reader().into_dimensions().map_err(refusal)?;
    if width == 0 || height == 0 {
        return Err(unsupported());
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_large());
    }
    let picture = reader().decode().map_err(refusal)?;
    if picture.width() == 0 || picture.height() == 0 {
        return Err(unsupported());
    }
    Ok(picture)
}

fn refusal(error: ImageError) -> Error {
    match error {
        ImageError::Limits(_) => too_large(),
        _ => unsupported(),
    }
}

fn unsupported() -> Error {
    Error::invalid(
        "unsupported_image",
        "the image must be a PNG, JPEG, WebP or GIF",
    )
}

fn too_large() -> Error {
    Error::invalid(
        "image_too_large",
        format!(
            "the image is too large to take: at most {} megapixels (fewer at 16 bits a channel) and {MAX_SIDE} \
             pixels on a side",
            MAX_PIXELS / 1_000_000
        ),
    )
}

fn shrink(picture: DynamicImage, side: u32) -> DynamicImage {
    if picture.width().max(picture.height()) <= side {
        return picture;
    }
    picture.thumbnail(side, side)
}

fn encode(picture: &DynamicImage) -> Result<Encoded, Error> {
    let mut bytes = Vec::new();
    let failed = |error: ImageError| Error::Encoding(error.to_string());
    // Decoders give GIFs (and many PNGs) an alpha channel whether or not a pixel uses it.
    let rgba = picture.color().has_alpha().then(|| picture.to_rgba8());
    if let Some(rgba) = rgba.filter(|rgba| rgba.pixels().any(|p| p.0[3] < u8::MAX)) {
        rgba.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .map_err(failed)?;
        return Ok(Encoded {
            format: ImageFormat::Png,
            bytes,
        });
    }
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(&picture.to_rgb8())
        .map_err(failed)?;
    Ok(Encoded {
        format: ImageFormat::Jpeg,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let picture = if alpha {
            DynamicImage::new_rgba8(width, height)
        } else {
            DynamicImage::new_rgb8(width, height)
        };
        let mut bytes = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .expect("encode");
        bytes
    }

    #[test]
    fn pictures_are_shrunk_and_encoded_again() {
        let photo = avatar(&png(1000, 500, false)).expect("an opaque picture");
        assert_eq!(photo.format, ImageFormat::Jpeg);
        let decoded = image::load_from_memory(&photo.bytes).expect("what we made decodes");
        assert_eq!(
            (decoded.width(), decoded.height()),
            (AVATAR_SIDE, AVATAR_SIDE / 2)
        );
        let icon = avatar(&png(64, 64, true)).expect("a transparent picture");
        assert_eq!(icon.format, ImageFormat::Png);
        let decoded = image::load_from_memory(&icon.bytes).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (64, 64));
    }

    #[test]
    fn a_preview_keeps_the_size_and_fits_the_side() {
        let shared = preview(&png(1200, 600, false)).expect("a picture");
        assert_eq!((shared.width, shared.height), (1200, 600));
        assert_eq!(
            (shared.thumbnail_width, shared.thumbnail_height),
            (PREVIEW_SIDE, PREVIEW_SIDE / 2)
        );
        let decoded = image::load_from_memory(&shared.thumbnail.bytes).expect("decodes");
        assert_eq!(decoded.width(), PREVIEW_SIDE);
    }

    #[test]
    fn a_signature_alone_is_not_an_image() {
        let page = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>";
        assert!(matches!(
            avatar(page),
            Err(Error::Invalid {
                code: "unsupported_image",
                ..
            })
        ));
        assert!(matches!(
            avatar(b"<svg/>"),
            Err(Error::Invalid {
                code: "unsupported_image",
                ..
            })
        ));
    }
}
