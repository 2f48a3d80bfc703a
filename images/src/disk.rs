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
