// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "Depth3D Photos": 3D-photo videos (depth, torn mesh, camera move, MP4) for a
// folder of photos, rendered by `blender -b -c depth3d …` (the depth_addon extension's command
// line) on Flamenco Workers.
//
// Install: copy this file into the `scripts` folder next to the flamenco-manager executable and
// restart the Manager (or use its "Reload job types" in the web interface). Every Worker needs
// Blender 4.2+ with the depth_addon extension installed (and its Python dependencies, from the
// extension's Preferences), and must see the input and output folders (shared storage).
//
// Tasks: one per photo when "Photos" lists them (a job compiler cannot list a folder: the Manager
// runs it without file-system access), otherwise one per shard: `--shard I/N` takes every N-th
// photo of the folder in a stable order, so shards need no coordination. Outputs that exist are
// skipped, so requeueing a failed job renders only what is missing. A task fails when one of its
// photos fails (exit code 1); the task log holds one line per photo.

const JOB_TYPE = {
    label: "Depth3D Photos",
    description: "Turn every photo of a folder into a 3D-photo parallax video (depth_addon)",
    settings: [
        { key: "input_folder", type: "string", subtype: "dir_path", required: true,
          description: "Folder of photos (JPEG, PNG, TIFF, WebP, HEIC …)" },
        { key: "output_folder", type: "string", subtype: "dir_path", required: true,
          description: "Folder for the videos (created when missing)" },
        { key: "photos", type: "string", default: "",
          description: "Optional: photo file names or paths, separated by ';' — one task each. " +
                       "Empty: the whole folder, split into 'Shards' tasks" },
        { key: "shards", type: "int32", default: 4, propargs: { min: 1, max: 10000 },
          description: "Number of tasks when 'Photos' is empty; each renders every N-th photo" },
        { key: "recursive", type: "bool", default: false,
          description: "Also take photos from sub-folders (outputs mirror them)" },
        { key: "pattern", type: "string", default: "{stem}_3d.mp4",
          description: "Output name per photo: {stem} {name} {ext}" },
        { key: "preset", type: "string", default: "circle",
          choices: ["circle", "swing", "vertical", "dolly", "dolly-zoom", "ken-burns"],
          description: "Camera move" },
        { key: "seconds", type: "float", default: 4.0, description: "Video length, seconds" },
        { key: "fps", type: "int32", default: 30, description: "Frames per second" },
        { key: "resolution", type: "string", default: "",
          description: "WxH, e.g. 1280x720 (empty: the photo's aspect, long side 1280)" },
        { key: "engine", type: "string", default: "workbench",
          choices: ["workbench", "eevee", "cycles"], description: "Render engine" },
        { key: "extra_args", type: "string", default: "",
          description: "More depth3d options, separated by spaces (e.g. --model FOLDER --overwrite)" },
    ],
};

function compileJob(job) {
    print("Depth3D job:", job.name);
    const s = job.settings;
    const common = depth3dOptions(s);
    const photos = splitList(s.photos, ";");
    if (photos.length > 0) {
        for (const photo of photos) {
            const src = isAbsolute(photo) ? photo : joinPath(s.input_folder, photo);
            addRenderTask(job, `photo ${baseName(photo)}`, [src].concat(outputArgs(s), common));
        }
        return;
    }
    const n = Math.max(1, Math.floor(s.shards || 1));
    for (let i = 0; i < n; i++) {
        addRenderTask(job, `shard ${i + 1}/${n}`,
                      [s.input_folder].concat(outputArgs(s), ["--shard", `${i}/${n}`], common));
    }
}

function addRenderTask(job, name, depth3dArgs) {
    const task = author.Task(name, "blender");
    const command = author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: ["-b"],
        args: ["-c", "depth3d"].concat(depth3dArgs),
    });
    task.addCommand(command);
    job.addTask(task);
}

function outputArgs(s) {
    let out = String(s.output_folder);
    if (!out.endsWith("/") && !out.endsWith("\\")) out += "/";  // a trailing '/' = output folder
    return ["-o", out, "--pattern", s.pattern || "{stem}_3d.mp4"];
}

function depth3dOptions(s) {
    const a = [];
    if (s.recursive) a.push("--recursive");
    if (s.preset) a.push("--preset", String(s.preset));
    if (s.seconds) a.push("--seconds", String(s.seconds));
    if (s.fps) a.push("--fps", String(s.fps));
    if (s.resolution) a.push("--resolution", String(s.resolution));
    if (s.engine) a.push("--engine", String(s.engine));
    a.push("-q");
    return a.concat(splitList(s.extra_args, " "));
}

function splitList(text, sep) {
    return String(text || "").split(sep).map((x) => x.trim()).filter((x) => x.length > 0);
}

function isAbsolute(p) {
    return p.startsWith("/") || p.startsWith("\\") || /^[A-Za-z]:[\\/]/.test(p);
}

function joinPath(folder, name) {
    const f = String(folder);
    return f.endsWith("/") || f.endsWith("\\") ? f + name : f + "/" + name;
}

function baseName(p) {
    const parts = String(p).split(/[\\/]/);
    return parts[parts.length - 1];
}
