// Test harness (not used by Flamenco): load depth3d.js with a tiny stand-in for the Flamenco
// Manager's job-author API (author.Task / author.Command / job.addTask / print) and print, as JSON,
// the tasks and commands compileJob would hand to Workers.
//   node farm/flamenco/compile_stub.js '{"input_folder": "/photos", "output_folder": "/videos"}'
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const source = fs.readFileSync(path.join(__dirname, "depth3d.js"), "utf8");
const author = {
    Task: (name, type) => ({ name, type, commands: [],
                             addCommand(cmd) { this.commands.push(cmd); } }),
    Command: (type, parameters) => ({ type, parameters }),
};
const context = { author, print: (...a) => process.stderr.write(a.join(" ") + "\n") };
vm.createContext(context);
vm.runInContext(source + "\nthis.JOB_TYPE = JOB_TYPE; this.compileJob = compileJob;", context);

const given = JSON.parse(process.argv[2] || "{}");
const settings = {};
for (const s of context.JOB_TYPE.settings) {  // the Manager fills defaults the same way
    if (s.default !== undefined) settings[s.key] = s.default;
}
Object.assign(settings, given);
for (const s of context.JOB_TYPE.settings) {
    if (s.required && (settings[s.key] === undefined || settings[s.key] === "")) {
        throw new Error(`setting ${s.key} is required`);
    }
}
const job = { name: "test job", settings, tasks: [], addTask(t) { this.tasks.push(t); } };
context.compileJob(job);
process.stdout.write(JSON.stringify({ label: context.JOB_TYPE.label,
    tasks: job.tasks.map((t) => ({ name: t.name, type: t.type, commands: t.commands })) }, null, 1));
