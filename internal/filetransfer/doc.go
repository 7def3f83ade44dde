// Package filetransfer is the master's side of Buildbot's file transfers,
// as plain Go (no actors, no protocol): where the bytes of an upload go and
// where those of a download come from.
//
//   - FileWriter takes an uploaded file (Buildbot's FileWriter): it writes a
//     temporary file next to its destination and renames it into place on
//     Close, so the destination is either untouched or complete; Cancel
//     removes what was written.
//   - DirectoryWriter takes an uploaded directory as a tar stream (Buildbot's
//     DirectoryWriter) into a temporary file, and unpacks it into its
//     destination on Unpack (plain, gz or bz2).
//   - Reader gives a download's bytes (Buildbot's FileReader and
//     StringFileReader), from a file or from memory.
//
// Uploads are confined to a root directory (the master's uploads_dir), with
// os.Root: a destination is relative and may not leave the root, neither
// with ".." nor through a symbolic link; CheckRelative says why a path is
// refused before anything is opened. A tar entry is refused the same way
// (absolute, "..", or a symbolic link whose target is absolute or holds
// ".."), and so are entries that are not files, directories or links.
// Nothing of a refused upload stays behind but the files already unpacked.
//
// maxsize bounds an upload's bytes (a file's, a tar stream's, and the files
// a tar unpacks into, which compression could make much larger); -1 is no
// bound.
package filetransfer
