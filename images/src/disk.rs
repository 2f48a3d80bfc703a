//! Bootable disk images: a GPT disk holding one FAT EFI system partition,
//! written as an ordinary file (no root rights, no loop devices).
//!
//! ESP layout (what the loader expects):
//! ```text
//! EFI/BOOT/BOOTX64.EFI | BOOTAA64.EFI   the loader
//! boot/kernel.elf                      the kernel
//! boot/cmdline.txt                     the kernel command line
//! boot/modules/*                       boot modules (the initial image)
//! ```

use anyhow::{Context, Result};
use std::{
    fs::OpenOptions,
    io::{Cursor, Seek, SeekFrom, Write},
    path::Path,
};

/// Size of the EFI system partition.
const ESP_SIZE: u64 = 64 << 20;
/// Space before the partition (GPT header and table) and after it (backup).
const DISK_SLACK: u64 = 2 << 20;
/// Fixed disk GUID: images are reproducible byte for byte.
const DISK_GUID: u128 = 0x6361_6972_6e00_4000_8000_0000_0000_0001;

/// One file of the ESP: its path on the ESP and its contents.
pub struct EspFile {
    /// Path with `/` separators, e.g. `boot/kernel.elf`.
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Build a FAT volume holding `files`.
fn build_esp(files: &[EspFile]) -> Result<Vec<u8>> {
    let mut volume = Cursor::new(vec![0u8; ESP_SIZE as usize]);
    fatfs::format_volume(
        &mut volume,
        fatfs::FormatVolumeOptions::new().volume_label(*b"CAIRN ESP  "),
    )
    .context("formatting the ESP")?;
    {
        let fs = fatfs::FileSystem::new(&mut volume, fatfs::FsOptions::new())
            .context("opening the ESP")?;
        let root = fs.root_dir();
        for f in files {
            let mut dir = root.clone();
            let mut parts: Vec<&str> = f.path.split('/').collect();
            let name = parts.pop().context("empty ESP path")?;
            for p in parts {
                dir = match dir.open_dir(p) {
                    Ok(d) => d,
                    Err(_) => dir
                        .create_dir(p)
                        .with_context(|| format!("creating {p} on the ESP"))?,
                };
            }
            let mut file = dir
                .create_file(name)
                .with_context(|| format!("creating {}", f.path))?;
            file.truncate()?;
            file.write_all(&f.data)
                .with_context(|| format!("writing {}", f.path))?;
        }
    }
    Ok(volume.into_inner())
}

/// A cpio archive in the "newc" format (`070701`) of `files` (name,
/// contents), each a regular file (mode 0755, owner 0, time 0, so the
/// archive is reproducible), followed by the `TRAILER!!!` entry: the
/// initial image `boot/modules/initrd.cpio`, read by `cap_runtime::cpio`.
pub fn cpio_newc(files: &[(&str, Vec<u8>)]) -> Result<Vec<u8>> {
    fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) -> Result<()> {
        if name.is_empty() || name.contains('\0') {
            anyhow::bail!("cpio: bad file name {name:?}");
        }
        let size = u32::try_from(data.len()).context("cpio: file over 4 GiB")?;
        let namesize = u32::try_from(name.len() + 1).context("cpio: name too long")?;
        out.extend_from_slice(b"070701");
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check
        for field in [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0] {
            out.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
        Ok(())
    }
    let mut out = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        entry(&mut out, i as u32 + 1, 0o100_755, name, data)?;
    }
    entry(&mut out, 0, 0, "TRAILER!!!", &[])?;
    Ok(out)
}

/// `elf` cut down to what a loader reads: the ELF header, the program
/// headers and the bytes of the loadable segments (the debug sections and
/// section headers that follow them in the file are dropped, and the
/// header no longer names section headers). The initial image is mapped
/// into the root task page by page, so this keeps it small; the full file
/// stays in the target directory for debuggers. `None` if `elf` is not a
/// 64-bit little-endian ELF file whose loadable bytes lie in the file.
pub fn loadable_part(elf: &[u8]) -> Option<Vec<u8>> {
    const PT_LOAD: u32 = 1;
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    if phentsize < 56 {
        return None;
    }
    let mut end = phoff.checked_add(phentsize.checked_mul(phnum)?)?.max(64);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == PT_LOAD {
            let (offset, filesz) = (u64_at(ph + 8)?, u64_at(ph + 32)?);
            end = end.max(usize::try_from(offset.checked_add(filesz)?).ok()?);
        }
    }
    let mut out = elf.get(..end)?.to_vec();
    out[0x28..0x30].fill(0); // e_shoff
    out[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    Some(out)
}

/// Write a GPT disk image at `out` whose only partition is an ESP holding
/// `files`.
pub fn write_disk_image(out: &Path, files: &[EspFile]) -> Result<()> {
    let esp = build_esp(files)?;
    let total = ESP_SIZE + 2 * DISK_SLACK;
    let mut disk = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    disk.set_len(total)?;
    let lb = gpt::disk::LogicalBlockSize::Lb512;
    let mbr =
        gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(total / 512 - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut disk)
        .context("writing the protective MBR")?;
    let mut gdisk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(lb)
        .create_from_device(disk, Some(uuid::Uuid::from_u128(DISK_GUID)))
        .context("creating the GPT")?;
    let id = gdisk
        .add_partition(
            "EFI system partition",
            ESP_SIZE,
            gpt::partition_types::EFI,
            0,
            None,
        )
        .context("adding the ESP")?;
    let start = gdisk.partitions()[&id].bytes_start(lb)?;
    let mut disk = gdisk.write().context("writing the GPT")?;
    disk.seek(SeekFrom::Start(start))?;
    disk.write_all(&esp)?;
    disk.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn cpio_archive_is_newc_with_aligned_data_and_a_trailer() {
        let a = cpio_newc(&[("ab", b"hello".to_vec()), ("invariant-suite", vec![7; 9])]).unwrap();
        let field = |at: usize, i: usize| {
            let s = std::str::from_utf8(&a[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap();
            u32::from_str_radix(s, 16).unwrap()
        };
        assert_eq!(&a[..6], b"070701");
        assert_eq!((field(0, 1), field(0, 6), field(0, 11)), (0o100_755, 5, 3));
        // Header 110 + "ab\0" = 113, data at 116, next entry at 124.
        assert_eq!(&a[110..113], b"ab\0");
        assert_eq!(&a[116..121], b"hello");
        assert_eq!(&a[124..130], b"070701");
        assert_eq!((field(124, 6), field(124, 11)), (9, 16));
        assert_eq!(&a[234..250], b"invariant-suite\0");
        assert_eq!(&a[252..261], &[7; 9]);
        assert_eq!(&a[264..270], b"070701");
        assert_eq!(&a[374..385], b"TRAILER!!!\0");
        assert_eq!(a.len() % 4, 0);
        assert_eq!(a.len(), 388);
        assert!(cpio_newc(&[("a\0b", vec![])]).is_err());
        assert!(cpio_newc(&[("", vec![])]).is_err());
    }

    #[test]
    fn loadable_part_keeps_headers_and_segments_only() {
        // Header, two program headers (a load segment at 0x100, 0x20
        // bytes; a note past it), then "debug" bytes and section headers.
        let mut f = vec![0u8; 0x400];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        f[0x28..0x30].copy_from_slice(&0x300u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&5u16.to_le_bytes());
        f[64..68].copy_from_slice(&1u32.to_le_bytes());
        f[64 + 8..64 + 16].copy_from_slice(&0x100u64.to_le_bytes());
        f[64 + 32..64 + 40].copy_from_slice(&0x20u64.to_le_bytes());
        f[120..124].copy_from_slice(&4u32.to_le_bytes());
        f[120 + 8..120 + 16].copy_from_slice(&0x200u64.to_le_bytes());
        f[120 + 32..120 + 40].copy_from_slice(&0x80u64.to_le_bytes());
        f[0x100..0x120].fill(0xcc);
        let out = loadable_part(&f).unwrap();
        assert_eq!(out.len(), 0x120);
        assert_eq!(&out[0x100..], &[0xcc; 0x20]);
        assert_eq!(&out[0x28..0x30], &[0; 8], "no section headers");
        assert_eq!(&out[0x3c..0x40], &[0; 4]);
        assert_eq!(&out[..0x28], &f[..0x28]);
        // Segments past the end, or not an ELF64 LE file: None.
        f[64 + 32..64 + 40].copy_from_slice(&0x1000u64.to_le_bytes());
        assert_eq!(loadable_part(&f), None);
        assert_eq!(loadable_part(b"\x7fELF\x01\x01"), None);
        assert_eq!(loadable_part(&f[..40]), None);
    }

    #[test]
    fn image_has_gpt_and_readable_esp() {
        let dir = std::env::temp_dir().join(format!("cairn-disk-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("t.img");
        let files = [
            EspFile {
                path: "EFI/BOOT/BOOTX64.EFI".into(),
                data: b"MZ loader".to_vec(),
            },
            EspFile {
                path: "boot/kernel.elf".into(),
                data: vec![0x7f; 5000],
            },
        ];
        write_disk_image(&out, &files).unwrap();
        let disk = gpt::GptConfig::new().open(&out).unwrap();
        let (_, part) = disk.partitions().iter().next().unwrap();
        assert_eq!(part.part_type_guid, gpt::partition_types::EFI);
        let start = part
            .bytes_start(gpt::disk::LogicalBlockSize::Lb512)
            .unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let esp = Cursor::new(bytes.split_off(start as usize));
        let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new()).unwrap();
        let mut k = Vec::new();
        fs.root_dir()
            .open_file("boot/kernel.elf")
            .unwrap()
            .read_to_end(&mut k)
            .unwrap();
        assert_eq!(k, vec![0x7f; 5000]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
